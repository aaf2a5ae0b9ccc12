//! `# %%` cells, as VS Code's Python Interactive window and Jupytext mark
//! them. Lines are 0-based here; the edges convert.

/// The kind of a cell, from its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Code,
    Markdown,
}

/// One cell: `marker` is its marker line (`None` for code before the first
/// marker), `body` the half-open line range of the code under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub marker: Option<usize>,
    pub body: std::ops::Range<usize>,
    pub kind: CellKind,
    /// Text after the marker, e.g. `Load data` in `# %% Load data`.
    pub title: String,
}

/// Classifies a line as a cell marker. Accepted forms (at column 0, as a
/// top-level comment): `# %%`, `#%%`, `# %% [markdown]`, `# <codecell>`,
/// `# <markdowncell>`, `# In[ ]:` / `# In[3]:`.
pub fn marker_kind(line: &str) -> Option<(CellKind, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    if let Some(after) = rest.strip_prefix("%%") {
        let after = after.trim();
        let is_markdown = after.starts_with("[markdown]") || after.starts_with("[md]");
        // `%%` must not run into a word (`#%%timeit` is a magic, not a cell).
        if after.is_empty() || after.starts_with('[') || rest[2..].starts_with(char::is_whitespace) {
            let kind = if is_markdown { CellKind::Markdown } else { CellKind::Code };
            let title = if is_markdown {
                after.trim_start_matches("[markdown]").trim_start_matches("[md]").trim()
            } else {
                after
            };
            return Some((kind, title.to_owned()));
        }
        return None;
    }
    if rest.starts_with("<codecell>") {
        return Some((CellKind::Code, String::new()));
    }
    if rest.starts_with("<markdowncell>") {
        return Some((CellKind::Markdown, String::new()));
    }
    if let Some(after) = rest.strip_prefix("In[") {
        let (inside, tail) = after.split_once(']')?;
        if inside.chars().all(|c| c.is_ascii_digit() || c == ' ') && tail.trim_start().starts_with(':') {
            return Some((CellKind::Code, String::new()));
        }
    }
    None
}

/// How cell markers are recognised: the standard forms, or a user's pattern
/// (a regular expression matched against the start of each line).
#[derive(Debug, Clone, Default)]
pub enum CellMarkers {
    #[default]
    Standard,
    Custom(regex_lite::Regex),
}

impl CellMarkers {
    /// A user pattern, e.g. `^# (%%|In\[)`. Lines it matches that also say
    /// `[markdown]` are markdown cells.
    pub fn custom(pattern: &str) -> Result<Self, String> {
        let anchored = format!("^(?:{pattern})");
        regex_lite::Regex::new(&anchored)
            .map(CellMarkers::Custom)
            .map_err(|e| format!("invalid cell marker pattern: {e}"))
    }

    pub fn classify(&self, line: &str) -> Option<(CellKind, String)> {
        match self {
            CellMarkers::Standard => marker_kind(line),
            CellMarkers::Custom(regex) => {
                let found = regex.find(line)?;
                let rest = line[found.end()..].trim();
                if rest.starts_with("[markdown]") || rest.starts_with("[md]") {
                    Some((
                        CellKind::Markdown,
                        rest.trim_start_matches("[markdown]").trim_start_matches("[md]").trim().to_owned(),
                    ))
                } else {
                    Some((CellKind::Code, rest.to_owned()))
                }
            }
        }
    }
}

/// All cells of `text`, in order. Code before the first marker is a cell
/// only if it has something other than blank lines and comments.
pub fn cells(text: &str) -> Vec<Cell> {
    cells_with(text, &CellMarkers::Standard)
}

/// [`cells`] with the given marker forms.
pub fn cells_with(text: &str, markers: &CellMarkers) -> Vec<Cell> {
    let lines: Vec<&str> = split_lines(text).collect();
    let mut cells = Vec::new();
    let mut current: Option<(Option<usize>, CellKind, String, usize)> = None;
    let close = |cells: &mut Vec<Cell>, open: Option<(Option<usize>, CellKind, String, usize)>, end: usize| {
        if let Some((marker, kind, title, start)) = open {
            let cell = Cell { marker, body: start..end, kind, title };
            if marker.is_some() || has_code(&lines[cell.body.clone()]) {
                cells.push(cell);
            }
        }
    };
    for (number, line) in lines.iter().enumerate() {
        if let Some((kind, title)) = markers.classify(line) {
            close(&mut cells, current.take(), number);
            current = Some((Some(number), kind, title, number + 1));
        } else if current.is_none() {
            current = Some((None, CellKind::Code, String::new(), number));
        }
    }
    close(&mut cells, current, lines.len());
    cells
}

/// The cell containing `line` (a marker line belongs to the cell it opens).
pub fn cell_at(cells: &[Cell], line: usize) -> Option<&Cell> {
    cells.iter().find(|c| c.marker == Some(line) || c.body.contains(&line))
}

fn has_code(lines: &[&str]) -> bool {
    lines.iter().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    })
}

/// Lines as LSP counts them: split on `\n`, `\r\n` or `\r`.
pub fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    // Split on '\n' with the fast single-byte search, then split the rare
    // line that still holds a '\r' (a lone CR is a break too).
    let trailing_newline = text.ends_with('\n') && !text.is_empty();
    let body = if trailing_newline { &text[..text.len() - 1] } else { text };
    body.split('\n').flat_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut parts = Some(line);
        std::iter::from_fn(move || {
            let current = parts?;
            match current.find('\r') {
                Some(at) => {
                    parts = Some(&current[at + 1..]);
                    Some(&current[..at])
                }
                None => {
                    parts = None;
                    Some(current)
                }
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_forms() {
        for line in ["# %%", "#%%", "# %% Load data", "# %%[markdown]", "# <codecell>", "# In[ ]:", "# In[12]:"] {
            assert!(marker_kind(line).is_some(), "{line}");
        }
        for line in ["#%%timeit", "# %%%", "x = 1  # %%", "    # %%", "# In[x]:", "# comment"] {
            assert!(marker_kind(line).is_none(), "{line}");
        }
        assert_eq!(marker_kind("# %% [markdown] Notes"), Some((CellKind::Markdown, "Notes".into())));
        assert_eq!(marker_kind("# %% Load data"), Some((CellKind::Code, "Load data".into())));
    }

    #[test]
    fn cells_with_preamble() {
        let text = "import os\n\n# %% First\nx = 1\n# %% [markdown]\n# text\n# %%\ny = 2\n";
        let cells = cells(text);
        let shape: Vec<_> = cells.iter().map(|c| (c.marker, c.body.clone(), c.kind)).collect();
        assert_eq!(
            shape,
            vec![
                (None, 0..2, CellKind::Code),
                (Some(2), 3..4, CellKind::Code),
                (Some(4), 5..6, CellKind::Markdown),
                (Some(6), 7..8, CellKind::Code),
            ]
        );
        assert_eq!(cell_at(&cells, 6).unwrap().marker, Some(6));
        assert_eq!(cell_at(&cells, 7).unwrap().marker, Some(6));
    }

    #[test]
    fn comment_only_preamble_is_no_cell() {
        let cells = cells("#!/usr/bin/env python\n# header\n\n# %%\nx = 1");
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].body, 4..5);
    }

    #[test]
    fn custom_markers() {
        let markers = CellMarkers::custom(r"#\s*-{3,}").unwrap();
        let cells = cells_with("a = 1\n# ---- load\nb = 2\n# --- [markdown]\n# x\n", &markers);
        let shape: Vec<_> = cells.iter().map(|c| (c.marker, c.kind, c.title.as_str())).collect();
        assert_eq!(
            shape,
            vec![(None, CellKind::Code, ""), (Some(1), CellKind::Code, "load"), (Some(3), CellKind::Markdown, "")]
        );
        assert!(CellMarkers::custom("(").is_err());
    }

    #[test]
    fn lines_split_like_lsp() {
        let lines: Vec<_> = split_lines("a\r\nb\rc\nd").collect();
        assert_eq!(lines, ["a", "b", "c", "d"]);
        assert_eq!(split_lines("a\n").collect::<Vec<_>>(), ["a"]);
        assert_eq!(split_lines("").collect::<Vec<_>>(), [""]);
        // A form feed is whitespace to Python, not a line break.
        assert_eq!(split_lines("a\x0cb").count(), 1);
    }
}

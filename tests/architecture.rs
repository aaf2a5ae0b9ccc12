//! The architecture, checked: reads `src/` as text and reports imports that
//! break the layering, crate names that leak out of their edge, and circles
//! between files, one line per violation naming the file, line and import.
//!
//! A text scanner (std only, nothing from the crate) so that it runs while the
//! library does not compile. Comments, literals and `#[cfg(test)]` items are
//! skipped; `use` trees and inline paths are resolved through the module tree
//! and through `use` re-exports to the file that defines the item. Known
//! limits: glob re-exports are not followed, and paths inside inline non-test
//! modules (`mod m { .. }`) are read as if written in the enclosing file.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::path::Path;

/// Top-level modules by layer, lowest first: a file may import only from its
/// own layer or lower ones. `lib.rs` and `main.rs` are exempt.
const LAYERS: &[&[&str]] = &[
    &["text", "secret"],
    &["mcp", "sandbox"],
    &["run", "azure", "mirror"],
    &["config"],
    &["workbench"],         // front-end-neutral use of the sandbox
    &["lsp", "mcp_server"], // the front ends
    &["cli"],
];
/// Support for fuzz targets: may import layers 0–5; nothing may import it.
const TEST_SUPPORT: (&str, usize) = ("fuzzing", 5);
/// Front ends reach the sandbox only through the workbench.
const BYPASSES: &[(&str, &[&str])] =
    &[("lsp", &["mcp", "sandbox", "azure", "config"]), ("mcp_server", &["mcp", "sandbox", "azure", "config"])];
/// Crates named only in some modules: LSP types stay in the LSP adapter, the
/// HTTP client and server stay at the edges.
const CONFINED: &[(&str, &[&str])] = &[
    ("tower_lsp_server", &["lsp"]),
    ("lsp_types", &["lsp"]),
    // The MCP server's SDK stays in the agents' front end.
    ("rmcp", &["mcp_server"]),
    ("reqwest", &["mcp", "azure"]),
    ("axum", &["sandbox"]),
    // The key is read only to send it (mcp, azure) or print serve-local's
    // own key (cli); everywhere else it stays an opaque `ApiKey`.
    ("expose", &["secret", "mcp", "azure", "cli"]),
];
/// Types built (`Type::…` or `Type {`) only where one rule decides how: code
/// is cut from documents only by `run` (the selection vocabulary), and a
/// backend's engine is made only by the workbench.
const BUILT_ONLY_IN: &[(&str, &[&str])] = &[("Snippet", &["run", "fuzzing"]), ("Engine", &["run", "workbench"])];

#[derive(Clone)]
struct Tok {
    text: String,
    line: usize,
}

/// One module file: `src/lsp/commands.rs` is module ["lsp", "commands"].
struct File {
    rel: String,
    module: Vec<String>,
    toks: Vec<Tok>,
    uses: Vec<UsePath>,
    /// Names brought into scope by `use`, with the path written for them.
    bindings: HashMap<String, Vec<String>>,
}

/// One leaf of a `use` tree: `use a::{b as c}` gives path [a, b], alias c.
struct UsePath {
    path: Vec<String>,
    alias: Option<String>,
    line: usize,
}

/// One reference to the crate: `to` is the module file the written path walks
/// to, `definer` the file defining the item once re-exports are followed.
struct Ref {
    from: usize,
    to: usize,
    definer: usize,
    name: Option<String>,
    written: String,
    line: usize,
}

type Index = HashMap<Vec<String>, usize>;

/// Every violation in the crate whose sources are in `src`, one line each.
fn check(src: &Path) -> Vec<String> {
    let files = load_tree(src);
    let index: Index = files.iter().enumerate().map(|(i, f)| (f.module.clone(), i)).collect();
    let refs = references(&files, &index);
    let main = fs::read_to_string(src.join("main.rs")).map(|t| code_tokens(&t)).unwrap_or_default();
    let mut scanned: Vec<_> = files.iter().map(|f| (f.rel.as_str(), top(f), &f.toks[..])).collect();
    scanned.push(("src/main.rs", "", &main[..]));
    let mut out = unplaced(&files);
    out.extend(confined_crates(&scanned));
    out.extend(built_elsewhere(&scanned));
    out.extend(import_violations(&files, &refs));
    out.extend(circles(&files, &refs));
    out
}

// ---------------------------------------------------------------- reading

/// The crate's module files, found from `lib.rs` through `mod name;` lines.
fn load_tree(src: &Path) -> Vec<File> {
    let mut files = Vec::new();
    let mut queue = vec![(src.join("lib.rs"), Vec::<String>::new())];
    while let Some((path, module)) = queue.pop() {
        let Ok(text) = fs::read_to_string(&path) else { continue };
        let toks = code_tokens(&text);
        // `a.rs` and `a/mod.rs` both keep their children in `a/`.
        let flat = !module.is_empty() && !path.ends_with("mod.rs");
        let dir = if flat { path.with_extension("") } else { path.parent().unwrap().to_path_buf() };
        let declared = (0..toks.len()).filter(|&i| at(&toks, i) == "mod" && at(&toks, i + 2) == ";");
        for child in declared.map(|i| at(&toks, i + 1).to_string()) {
            let candidates = [dir.join(format!("{child}.rs")), dir.join(&child).join("mod.rs")];
            if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
                queue.push((found, [module.clone(), vec![child]].concat()));
            }
        }
        let uses = use_paths(&toks);
        let rel = format!("src/{}", path.strip_prefix(src).unwrap().display());
        files.push(File { rel, module, toks, bindings: bindings(&uses), uses });
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

/// The tokens of the code proper (identifiers, `::`, single punctuation): no
/// comments or literals (a doc comment naming `crate::x` is no import), and no
/// `#[cfg(test)]` items (unit tests may import upward).
fn code_tokens(text: &str) -> Vec<Tok> {
    let c: Vec<char> = text.chars().collect();
    let (mut toks, mut i, mut line) = (Vec::new(), 0, 1);
    let word = |ch: &char| ch.is_alphanumeric() || *ch == '_';
    while i < c.len() {
        let skipped = skipped_end(&c, i);
        let end = match c[i] {
            _ if skipped > i => skipped,
            ch if word(&ch) => i + c[i..].iter().take_while(|ch| word(ch)).count(),
            ':' if c.get(i + 1) == Some(&':') => i + 2,
            _ => i + 1,
        };
        if skipped == i && !c[i].is_whitespace() {
            toks.push(Tok { text: c[i..end].iter().collect(), line });
        }
        line += c[i..end].iter().filter(|&&ch| ch == '\n').count();
        i = end;
    }
    without_test_items(toks)
}

/// Where the comment or literal starting at `i` ends; `i` if none starts there.
fn skipped_end(c: &[char], i: usize) -> usize {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    match (at(i), at(i + 1)) {
        ('/', '/') => c[i..].iter().position(|&ch| ch == '\n').map_or(c.len(), |p| i + p),
        ('/', '*') => {
            let (mut k, mut depth) = (i + 2, 1); // block comments nest
            while k < c.len() && depth > 0 {
                match (at(k), at(k + 1)) {
                    ('/', '*') => (depth, k) = (depth + 1, k + 2),
                    ('*', '/') => (depth, k) = (depth - 1, k + 2),
                    _ => k += 1,
                }
            }
            k
        }
        ('"', _) => {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            (k + 1).min(c.len())
        }
        ('r', '"' | '#') if i == 0 || !at(i - 1).is_alphanumeric() => raw_string_end(c, i),
        ('\'', '\\') => c.get(i + 3..).and_then(|r| r.iter().position(|&ch| ch == '\'')).map_or(c.len(), |p| i + 4 + p),
        ('\'', _) if at(i + 2) == '\'' => i + 3, // 'x', not the lifetime 'a
        _ => i,
    }
}

/// The end of `r#"…"#`; `i` for a raw identifier such as `r#type`.
fn raw_string_end(c: &[char], i: usize) -> usize {
    let hashes = c[i + 1..].iter().take_while(|&&ch| ch == '#').count();
    if c.get(i + 1 + hashes) != Some(&'"') {
        return i;
    }
    let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
    let body = i + hashes + 2;
    c[body..].windows(closing.len()).position(|w| w == closing).map_or(c.len(), |p| body + p + closing.len())
}

/// The text of token `i`, or "" past the end.
fn at(toks: &[Tok], i: usize) -> &str {
    toks.get(i).map_or("", |t| t.text.as_str())
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|ch: char| ch.is_alphabetic() || ch == '_')
}

/// Drops each item after `#[cfg(test)]`: up to its `;` or its closing `}`.
fn without_test_items(toks: Vec<Tok>) -> Vec<Tok> {
    let marker = ["#", "[", "cfg", "(", "test", ")", "]"];
    let (mut kept, mut i) = (Vec::new(), 0);
    while i < toks.len() {
        if marker.iter().enumerate().all(|(k, m)| at(&toks, i + k) == *m) {
            i = item_end(&toks, i + marker.len());
        } else {
            kept.push(toks[i].clone());
            i += 1;
        }
    }
    kept
}

/// Just past the item starting at token `i`.
fn item_end(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0;
    while i < toks.len() {
        match at(toks, i) {
            "{" | "(" | "[" => depth += 1,
            "}" if depth == 1 => return i + 1,
            "}" | ")" | "]" => depth -= 1,
            ";" if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Every leaf of every `use` tree in the file.
fn use_paths(toks: &[Tok]) -> Vec<UsePath> {
    let mut out = Vec::new();
    for i in (0..toks.len()).filter(|&i| at(toks, i) == "use") {
        use_tree(toks, &mut (i + 1), Vec::new(), &mut out);
    }
    for u in out.iter_mut().filter(|u| u.path.len() > 1 && u.path.last().unwrap() == "self") {
        u.path.pop(); // `use a::b::{self}` imports the module `a::b`
    }
    out
}

/// Parses one `use` tree from token `k` on, below `path`.
fn use_tree(toks: &[Tok], k: &mut usize, mut path: Vec<String>, out: &mut Vec<UsePath>) {
    while let Some(t) = toks.get(*k) {
        *k += 1;
        match t.text.as_str() {
            "{" => {
                while !matches!(at(toks, *k), "}" | "") {
                    use_tree(toks, k, path.clone(), out);
                    *k += (at(toks, *k) == ",") as usize;
                }
                *k += 1;
                return;
            }
            "*" => return out.push(UsePath { path: [path, vec!["*".into()]].concat(), alias: None, line: t.line }),
            s if is_ident(s) && at(toks, *k) == "::" => {
                path.push(s.into());
                *k += 1;
            }
            s if is_ident(s) => {
                let alias = (at(toks, *k) == "as").then(|| at(toks, *k + 1).to_string());
                *k += 2 * alias.is_some() as usize;
                return out.push(UsePath { path: [path, vec![s.into()]].concat(), alias, line: t.line });
            }
            _ => return, // not a use declaration after all (`use<'a>`)
        }
    }
}

fn bindings(uses: &[UsePath]) -> HashMap<String, Vec<String>> {
    let named =
        uses.iter().map(|u| (u.alias.clone().unwrap_or_else(|| u.path.last().unwrap().clone()), u.path.clone()));
    named.filter(|(name, _)| name != "_" && name != "*").collect()
}

/// Paths written in code outside `use`, like `super::records::one_line(..)` or
/// `runner::submit(..)`: two or more segments, not after `.` or `::`.
fn inline_paths(toks: &[Tok]) -> Vec<(Vec<String>, usize)> {
    let (mut out, mut i) = (Vec::new(), 0);
    while i < toks.len() {
        let start =
            is_ident(at(toks, i)) && at(toks, i + 1) == "::" && !matches!(at(toks, i.wrapping_sub(1)), "." | "::");
        if at(toks, i) == "use" && at(toks, i + 1) != "<" {
            i = (i..toks.len()).find(|&k| at(toks, k) == ";").unwrap_or(toks.len());
        } else if start {
            let mut path = vec![at(toks, i).to_string()];
            while at(toks, i + 2 * path.len() - 1) == "::" && is_ident(at(toks, i + 2 * path.len())) {
                path.push(at(toks, i + 2 * path.len()).into());
            }
            out.push((path, toks[i].line));
        }
        i += 1;
    }
    out.retain(|(path, _)| path.len() > 1);
    out
}

// ---------------------------------------------------------------- resolving

/// Every reference from a file to the crate, resolved.
fn references(files: &[File], index: &Index) -> Vec<Ref> {
    let mut out = Vec::new();
    for (from, file) in files.iter().enumerate() {
        let written = file.uses.iter().map(|u| (u.path.clone(), u.line)).chain(inline_paths(&file.toks));
        for (path, line) in written {
            let Some(abs) = absolute(index, file, &path, 0) else { continue };
            let (to, n) = module_file(index, &abs);
            let written = format!("crate::{}", abs[..abs.len().min(n + 1)].join("::"));
            let definer = defining_file(files, index, &abs, 0);
            out.push(Ref { from, to, definer, name: abs.get(n).cloned(), written, line });
        }
    }
    out
}

/// The path from the crate root that `path`, written in `file`, names; None
/// when it names another crate (or a local type such as `Self`).
fn absolute(index: &Index, file: &File, path: &[String], depth: u8) -> Option<Vec<String>> {
    let (first, mut rest) = path.split_first()?;
    let child = [file.module.clone(), vec![first.clone()]].concat();
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" => file.module.clone(),
        "super" => file.module[..file.module.len().saturating_sub(1)].to_vec(),
        _ if index.contains_key(&child) => child,
        _ => {
            // A name brought in by `use`: `runner::submit` after `use super::runner`.
            let bound = file.bindings.get(first).filter(|_| depth < 8)?;
            return Some([absolute(index, file, bound, depth + 1)?, rest.to_vec()].concat());
        }
    };
    while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
        (base, rest) = (base[..base.len().saturating_sub(1)].to_vec(), tail);
    }
    Some([base, rest.to_vec()].concat())
}

/// The deepest module file `abs` walks through, and how many segments that took.
fn module_file(index: &Index, abs: &[String]) -> (usize, usize) {
    let n = (0..=abs.len()).take_while(|&n| index.contains_key(&abs[..n])).last().unwrap_or(0);
    (index[&abs[..n]], n)
}

/// The file that defines what `abs` names: when its module file only brings
/// the name in with `use` (a re-export), the file that `use` leads to.
fn defining_file(files: &[File], index: &Index, abs: &[String], depth: u8) -> usize {
    let (file, n) = module_file(index, abs);
    let reexport = abs.get(n).and_then(|name| files[file].bindings.get(name)).filter(|_| depth < 8);
    match reexport.and_then(|path| absolute(index, &files[file], path, 0)) {
        Some(next) => defining_file(files, index, &next, depth + 1),
        None => file,
    }
}

// ---------------------------------------------------------------- rules

fn top(f: &File) -> &str {
    f.module.first().map_or("", String::as_str)
}

fn layer(f: &File) -> Option<usize> {
    if top(f) == TEST_SUPPORT.0 { Some(TEST_SUPPORT.1) } else { LAYERS.iter().position(|l| l.contains(&top(f))) }
}

/// Modules in no layer: a new module must be given its place.
fn unplaced(files: &[File]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let new = files.iter().filter(|f| !f.module.is_empty() && layer(f).is_none() && seen.insert(top(f)));
    new.map(|f| format!("{}: module `{}` is in no layer (add it to LAYERS in tests/architecture.rs)", f.rel, top(f)))
        .collect()
}

/// Crate names outside the modules they are confined to: one line per file and name.
fn confined_crates(scanned: &[(&str, &str, &[Tok])]) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, top, toks) in scanned {
        for (name, allowed) in CONFINED.iter().filter(|(_, allowed)| !allowed.contains(top)) {
            let lines: Vec<usize> = toks.iter().filter(|t| t.text == *name).map(|t| t.line).collect();
            if let Some(first) = lines.first() {
                let n = lines.len();
                out.push(format!("{rel}:{first}: mentions `{name}` ({n} times), which belongs only in {allowed:?}"));
            }
        }
    }
    out
}

/// Types built outside the modules that alone may build them.
fn built_elsewhere(scanned: &[(&str, &str, &[Tok])]) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, top, toks) in scanned {
        for (name, allowed) in BUILT_ONLY_IN.iter().filter(|(_, allowed)| !allowed.contains(top)) {
            // `impl Engine {` and the like declare; `Engine::new(…)` and `Snippet { … }` build.
            let declares = |i: usize| matches!(at(toks, i.wrapping_sub(1)), "impl" | "for" | "struct" | "enum");
            let built = (0..toks.len())
                .find(|&i| at(toks, i) == *name && matches!(at(toks, i + 1), "::" | "{") && !declares(i));
            if let Some(i) = built {
                let line = toks[i].line;
                out.push(format!("{rel}:{line}: builds `{name}`, which only {allowed:?} may build"));
            }
        }
    }
    out
}

/// The rules one reference breaks.
fn broken_rules(files: &[File], r: &Ref) -> Vec<String> {
    let (from, to) = (&files[r.from], &files[r.to]);
    if from.module.is_empty() || r.from == r.to {
        return Vec::new();
    }
    if top(to) == TEST_SUPPORT.0 && top(from) != TEST_SUPPORT.0 {
        return vec!["nothing may import the fuzzing support".into()];
    }
    let mut broken = Vec::new();
    // Items of lib.rs itself have no layer: judge them where they are defined.
    let target = if to.module.is_empty() { &files[r.definer] } else { to };
    match (layer(from), layer(target)) {
        (Some(a), Some(b)) if b > a => {
            broken.push(format!("layer {a} ({}) may not import layer {b} ({})", top(from), top(target)))
        }
        _ => {}
    }
    if BYPASSES.iter().any(|(front, banned)| top(from) == *front && banned.contains(&top(to))) {
        broken.push(format!("`{}` reaches the sandbox only through the workbench", top(from)));
    }
    broken
}

/// Layering violations, one line per importing file, imported file and rule.
fn import_violations(files: &[File], refs: &[Ref]) -> Vec<String> {
    let mut grouped: BTreeMap<(usize, usize, String), (usize, Vec<&str>)> = BTreeMap::new();
    for r in refs {
        for rule in broken_rules(files, r) {
            let (line, paths) = grouped.entry((r.from, r.to, rule)).or_insert((r.line, Vec::new()));
            *line = (*line).min(r.line);
            if !paths.contains(&r.written.as_str()) {
                paths.push(&r.written);
            }
        }
    }
    let describe = |((from, to, rule), (line, paths)): ((usize, usize, String), (usize, Vec<&str>))| {
        format!("{}:{line}: imports {} from {}: {rule}", files[from].rel, paths.join(", "), files[to].rel)
    };
    grouped.into_iter().map(describe).collect()
}

/// Every set of files that import each other in a circle, with one circle
/// through its first file: "a.rs:3 -> b.rs (names a.rs imports from b.rs); …".
fn circles(files: &[File], refs: &[Ref]) -> Vec<String> {
    let mut edges: BTreeMap<(usize, usize), (usize, Vec<String>)> = BTreeMap::new();
    for r in refs.iter().filter(|r| r.from != r.definer) {
        let (line, names) = edges.entry((r.from, r.definer)).or_insert((r.line, Vec::new()));
        *line = (*line).min(r.line);
        names.extend(r.name.clone().filter(|n| !names.contains(n)));
    }
    let mut next = vec![Vec::new(); files.len()];
    edges.keys().for_each(|&(a, b)| next[a].push(b));
    let reached: Vec<HashMap<usize, usize>> = (0..files.len()).map(|v| reachable(&next, v)).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for v in (0..files.len()).filter(|v| reached[*v].contains_key(v)) {
        let circle: Vec<usize> =
            (0..files.len()).filter(|u| reached[v].contains_key(u) && reached[*u].contains_key(&v)).collect();
        if !seen.insert(circle.clone()) {
            continue;
        }
        // Back from `v` along the shortest path from `v` to itself.
        let mut cycle = vec![v];
        while let Some(&p) = reached[v].get(cycle.last().unwrap()).filter(|&&p| p != v) {
            cycle.push(p);
        }
        cycle[1..].reverse();
        let step = |(k, &a): (usize, &usize)| {
            let b = cycle[(k + 1) % cycle.len()];
            let (line, names) = &edges[&(a, b)];
            let names = if names.is_empty() { "the module".to_string() } else { names.join(", ") };
            format!("{}:{line} -> {} ({names})", files[a].rel, files[b].rel)
        };
        let steps: Vec<String> = cycle.iter().enumerate().map(step).collect();
        let members: Vec<&str> = circle.iter().map(|&f| files[f].rel.as_str()).collect();
        out.push(format!("circle among {} files [{}]: {}", circle.len(), members.join(", "), steps.join("; ")));
    }
    out
}

/// Breadth-first from `start`: every file reached, with the file it was first
/// reached from (`start` itself only if a circle leads back to it).
fn reachable(next: &[Vec<usize>], start: usize) -> HashMap<usize, usize> {
    let (mut came_from, mut queue) = (HashMap::new(), VecDeque::from([start]));
    while let Some(v) = queue.pop_front() {
        for &u in &next[v] {
            if let std::collections::hash_map::Entry::Vacant(entry) = came_from.entry(u) {
                entry.insert(v);
                queue.push_back(u);
            }
        }
    }
    came_from
}

// ---------------------------------------------------------------- tests

#[test]
fn the_source_tree_keeps_its_architecture() {
    let violations = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(violations.is_empty(), "{} architecture violations:\n{}", violations.len(), violations.join("\n"));
}

/// Checks a fake crate: a clean tree with `changes` (paths under src/) made.
fn fake(changes: &[(&str, &str)]) -> Vec<String> {
    let clean = [
        ("lib.rs", "pub mod text; pub mod run; pub mod lsp; pub mod mcp; pub mod fuzzing;"),
        ("text.rs", "pub struct Pos;"),
        ("mcp/mod.rs", "pub struct Client;"),
        // Re-exports: engine.rs uses `crate::run::Snippet`, which is snippet.rs.
        (
            "run/mod.rs",
            "pub mod a; pub mod b; pub mod x; pub mod engine; pub mod snippet;\npub use engine::Engine;\npub use snippet::Snippet;",
        ),
        ("run/engine.rs", "use crate::run::Snippet;\npub struct Engine(Snippet);"),
        ("run/snippet.rs", "pub struct Snippet;"),
        ("run/a.rs", "pub struct A;"),
        ("run/b.rs", "pub struct B;\npub fn helper() {}"),
        ("run/x.rs", "use crate::text::Pos;\npub fn x(_: Pos) {}"),
        ("lsp/mod.rs", "pub mod x;"),
        ("lsp/x.rs", "use crate::run::{Engine, b::helper};\npub struct Thing(Engine);"),
        ("fuzzing.rs", "pub use crate::lsp::x::Thing;"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in clean.iter().chain(changes) {
        let path = dir.path().join("src").join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    check(&dir.path().join("src"))
}

/// Asserts that the fake crate with `changes` has one violation, mentioning all of `parts`.
fn assert_only(changes: &[(&str, &str)], parts: &[&str]) {
    let v = fake(changes);
    assert!(v.len() == 1 && parts.iter().all(|p| v[0].contains(p)), "expected one violation with {parts:?}: {v:#?}");
}

#[test]
fn a_clean_tree_has_no_violations() {
    assert_eq!(fake(&[]), Vec::<String>::new());
}

#[test]
fn a_circle_through_grouped_uses_is_reported() {
    let a = ("run/a.rs", "use crate::run::{b::{self, B}, snippet::Snippet};\npub struct A;");
    let b = ("run/b.rs", "use super::{x, a::{A}};\npub struct B;");
    assert_only(
        &[a, b],
        &["circle among 2 files", "src/run/a.rs:1 -> src/run/b.rs (B)", "src/run/b.rs:1 -> src/run/a.rs (A)"],
    );
}

#[test]
fn a_circle_through_inline_paths_is_reported() {
    let a = ("run/a.rs", "pub struct A;\npub fn f() { super::b::helper() }");
    let b = ("run/b.rs", "use super::a;\npub fn helper() {}\npub fn g() { let _ = a::A; }");
    assert_only(&[a, b], &["src/run/a.rs:2 -> src/run/b.rs (helper)", "src/run/b.rs:1 -> src/run/a.rs (A)"]);
}

#[test]
fn a_reexport_leads_to_the_file_that_defines_the_item() {
    let snippet = ("run/snippet.rs", "use crate::run::Engine;\npub struct Snippet;");
    let engine = "src/run/engine.rs:1 -> src/run/snippet.rs (Snippet)";
    assert_only(&[snippet], &[engine, "src/run/snippet.rs:1 -> src/run/engine.rs (Engine)"]);
}

#[test]
fn an_upward_import_is_reported() {
    let x = ("run/x.rs", "use crate::lsp::x::Thing;\npub fn x(_: Thing) {}");
    assert_only(
        &[x],
        &["src/run/x.rs:1: imports crate::lsp::x::Thing from src/lsp/x.rs: layer 2 (run) may not import layer 5"],
    );
}

#[test]
fn lsp_types_stay_in_the_lsp_adapter() {
    assert_only(&[("run/x.rs", "pub fn x(_: lsp_types::Url) {}")], &["src/run/x.rs:1: mentions `lsp_types`"]);
}

#[test]
fn http_crates_stay_at_their_edges() {
    assert_only(
        &[("run/x.rs", "\nasync fn x() { reqwest::get(\"u\").await; }")],
        &["src/run/x.rs:2: mentions `reqwest`"],
    );
    assert_only(&[("mcp/mod.rs", "pub struct Client;\nuse axum::Router;")], &["src/mcp/mod.rs:2: mentions `axum`"]);
}

#[test]
fn the_key_is_read_only_where_it_is_sent() {
    let leak = ("lsp/x.rs", "pub fn log(k: &K) {\n    tracing::info!(\"{}\", k.expose());\n}");
    assert_only(&[leak], &["src/lsp/x.rs:2: mentions `expose`"]);
}

#[test]
fn code_is_cut_and_engines_made_by_one_module_each() {
    assert_only(
        &[("lsp/x.rs", "pub fn cut(t: &str) -> S {\n    Snippet::whole(\"f\", t)\n}")],
        &["src/lsp/x.rs:2: builds `Snippet`, which only"],
    );
    assert_only(&[("lsp/x.rs", "fn e(c: C) -> E { Engine::new(c, r()) }")], &["src/lsp/x.rs:1: builds `Engine`"]);
    // Naming the types is fine; building them is what is confined.
    let named = ("lsp/y.rs", "pub struct R { pub snippet: Option<Snippet>, pub engine: Arc<Engine> }");
    assert_eq!(fake(&[named]), Vec::<String>::new());
}

#[test]
fn the_lsp_front_end_does_not_bypass_the_workbench() {
    let x = ("lsp/x.rs", "use crate::run::{Engine, b::helper};\nuse crate::mcp::Client;\npub struct Thing(Engine);");
    assert_only(&[x], &["src/lsp/x.rs:2: imports crate::mcp::Client from src/mcp/mod.rs", "through the workbench"]);
}

#[test]
fn the_agents_front_end_does_not_bypass_the_workbench() {
    let lib = ("lib.rs", "pub mod text; pub mod run; pub mod lsp; pub mod mcp; pub mod mcp_server; pub mod fuzzing;");
    let x = ("mcp_server/x.rs", "use crate::run::Engine;\nuse crate::mcp::Client;\npub struct T(Engine, Client);");
    assert_only(
        &[lib, ("mcp_server/mod.rs", "pub mod x;"), x],
        &["src/mcp_server/x.rs:2: imports crate::mcp::Client from src/mcp/mod.rs", "through the workbench"],
    );
}

#[test]
fn the_mcp_sdk_stays_in_the_agents_front_end() {
    assert_only(&[("run/x.rs", "pub fn x(_: rmcp::model::Tool) {}")], &["src/run/x.rs:1: mentions `rmcp`"]);
}

#[test]
fn comments_and_literals_are_not_imports() {
    let text = r##"//! Called from crate::lsp::x::Thing.
/// See [`crate::lsp::x`] and super::super::lsp.
/* crate::lsp::x::Thing /* nested */ crate::lsp::x */
pub const S: &str = "crate::lsp::x::Thing \" crate::lsp";
pub const R: &str = r#"crate::lsp::x " crate::lsp"#;
pub const Q: char = '"';
pub fn x<'a>(_: &'a str) -> char { '\'' }
"##;
    assert_eq!(fake(&[("run/x.rs", text)]), Vec::<String>::new());
    // What follows the literals is still read, on its own line.
    let then_import = format!("{text}use crate::lsp::x::Thing;\n");
    assert_only(&[("run/x.rs", &then_import)], &["src/run/x.rs:8: imports crate::lsp"]);
}

#[test]
fn unit_tests_may_import_upward() {
    let x = "pub fn x() {}\n#[cfg(test)]\nmod tests {\n    use crate::lsp::x::Thing;\n    fn f() { if true { crate::lsp::x::Thing; } }\n}\n";
    assert_eq!(fake(&[("run/x.rs", x)]), Vec::<String>::new());
}

#[test]
fn nothing_imports_the_fuzzing_support() {
    let x = ("run/x.rs", "use crate::fuzzing::Thing;");
    assert_only(&[x], &["src/run/x.rs:1: imports crate::fuzzing::Thing from src/fuzzing.rs: nothing may import"]);
}

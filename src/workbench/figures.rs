//! Figure files: the images runs made, written where a user (or an editor)
//! can open them. The cache directory's store is owner-only and bounded in
//! total size, the oldest files going first; the command line can write into
//! a directory of the user's choice instead.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use serde::Serialize;

use crate::run::{Image, RunReport};

/// What the cache directory's store keeps at most.
pub const DEFAULT_BUDGET: u64 = 200 << 20;
/// A hover's thumbnail: at most this many pixels wide or high. VS Code cuts
/// hover markdown at 100,000 characters; a plot this size is ~20 KB.
const THUMBNAIL_EDGE: u32 = 240;
const THUMBNAIL_MOST_BYTES: usize = 48_000;

/// One saved figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figure {
    pub path: PathBuf,
    /// `file://` URI of `path`.
    pub uri: String,
    pub mime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub bytes: u64,
    /// Which of the run's display items it is.
    #[serde(skip)]
    pub display: usize,
    /// A small PNG of it (base64), for hovers.
    #[serde(skip)]
    pub thumbnail: Option<String>,
}

impl Figure {
    /// `PNG 640×480, 23 KB`.
    pub fn describe(&self) -> String {
        let kind = match self.mime.as_str() {
            "image/png" => "PNG",
            "image/jpeg" => "JPEG",
            "image/svg+xml" => "SVG",
            other => other,
        };
        let size = match (self.width, self.height) {
            (Some(w), Some(h)) => format!(" {w}×{h}"),
            _ => String::new(),
        };
        format!("{kind}{size}, {}", crate::run::human_bytes(self.bytes))
    }
}

/// Where figures go.
#[derive(Debug, Clone)]
pub struct FigureStore {
    dir: PathBuf,
    /// The store's bound (the cache's), or `None` for a user's directory.
    budget: Option<u64>,
}

impl FigureStore {
    /// The cache directory's store (`figures/`), owner-only and bounded.
    pub fn in_cache() -> Option<Self> {
        Some(Self { dir: crate::config::cache_dir()?.join("figures"), budget: Some(DEFAULT_BUDGET) })
    }

    /// A directory the user chose: files as the umask makes them, nothing
    /// removed.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir, budget: None }
    }

    /// A bounded, owner-only store in `dir` (tests, and the cache's).
    pub fn bounded(dir: PathBuf, budget: u64) -> Self {
        Self { dir, budget: Some(budget) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves every image of `report` as `<stem>-<time>-<n>.<ext>`. A figure
    /// that cannot be written is logged and left out, never an error of the
    /// run.
    pub fn save(&self, stem: &str, report: &RunReport) -> Vec<Figure> {
        let mut figures = Vec::new();
        for (index, display) in report.displays.iter().enumerate() {
            let Some(image) = display.image() else { continue };
            match self.write(stem, figures.len() + 1, &image) {
                Ok(mut figure) => {
                    figure.display = index;
                    figures.push(figure);
                }
                Err(e) => tracing::warn!("could not save a figure in {}: {e}", self.dir.display()),
            }
        }
        if !figures.is_empty() {
            self.prune();
        }
        figures
    }

    fn write(&self, stem: &str, n: usize, image: &Image) -> std::io::Result<Figure> {
        self.make_dir()?;
        let ext = match image.mime {
            "image/jpeg" => "jpg",
            "image/svg+xml" => "svg",
            _ => "png",
        };
        let when = super::clock::timestamp(SystemTime::now());
        // `2026-11-30 10:12:05 UTC` → `20261130-101205`
        let when: String = when.chars().filter(|c| c.is_ascii_digit() || *c == ' ').collect();
        let when = when.trim().replacen(' ', "-", 1).replace(' ', "");
        let stem: String =
            stem.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).take(60).collect();
        let mut attempt = 0;
        let (path, mut file) = loop {
            let suffix = if attempt == 0 { String::new() } else { format!("-{attempt}") };
            let path = self.dir.join(format!("{stem}-{when}-{n}{suffix}.{ext}"));
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            if self.budget.is_some() {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        file.write_all(&image.bytes)?;
        let uri = url::Url::from_file_path(&path).map(String::from).unwrap_or_default();
        let thumbnail = (image.mime == "image/png").then(|| thumbnail(&image.bytes)).flatten();
        Ok(Figure {
            path,
            uri,
            mime: image.mime.to_owned(),
            width: image.size.map(|s| s.0),
            height: image.size.map(|s| s.1),
            bytes: image.bytes.len() as u64,
            display: 0,
            thumbnail,
        })
    }

    fn make_dir(&self) -> std::io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        if self.budget.is_some() {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&self.dir)
    }

    /// Drops the oldest files until the store fits its budget.
    fn prune(&self) {
        let Some(budget) = self.budget else { return };
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                Some((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, size, path) in files {
            if total <= budget {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= size;
            }
        }
    }
}

/// The program that opens files with the user's viewer.
pub const OPENER_VAR: &str = "AZURE_SANDBOX_OPENER";

/// Opens `path` with the system viewer (`AZURE_SANDBOX_OPENER`, else
/// `xdg-open`, or `open` on macOS), detached: its output goes nowhere (this
/// process's stdout may be a protocol). Says what went wrong.
pub fn open_in_viewer(path: &Path) -> Result<(), String> {
    let opener = std::env::var(OPENER_VAR)
        .ok()
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(|| if cfg!(target_os = "macos") { "open" } else { "xdg-open" }.to_owned());
    let child = std::process::Command::new(&opener)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            // Reaped in the background, so it leaves no zombie.
            std::thread::spawn(move || child.wait());
            Ok(())
        }
        Err(e) => Err(format!(
            "could not open {} with `{opener}`: {e}. Set {OPENER_VAR} to your image viewer.",
            path.display()
        )),
    }
}

/// A PNG at most [`THUMBNAIL_EDGE`] pixels on its long side (box-filtered),
/// base64; `None` if it cannot be decoded or comes out too large.
pub fn thumbnail(png_bytes: &[u8]) -> Option<String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().ok()?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > 50_000_000 {
        return None;
    }
    let mut pixels = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut pixels).ok()?;
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let scale = (f64::from(width.max(height)) / f64::from(THUMBNAIL_EDGE)).max(1.0);
    let (out_w, out_h) =
        (((f64::from(width) / scale).round() as u32).max(1), ((f64::from(height) / scale).round() as u32).max(1));
    let mut out = Vec::with_capacity((out_w * out_h * 4) as usize);
    for y in 0..out_h {
        let (y0, y1) = span(y, out_h, height);
        for x in 0..out_w {
            let (x0, x1) = span(x, out_w, width);
            let mut sum = [0u64; 4];
            for sy in y0..y1 {
                for sx in x0..x1 {
                    let at = (sy as usize * width as usize + sx as usize) * channels;
                    let rgba = match channels {
                        1 => [pixels[at], pixels[at], pixels[at], 255],
                        2 => [pixels[at], pixels[at], pixels[at], pixels[at + 1]],
                        3 => [pixels[at], pixels[at + 1], pixels[at + 2], 255],
                        _ => [pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]],
                    };
                    for (s, v) in sum.iter_mut().zip(rgba) {
                        *s += u64::from(v);
                    }
                }
            }
            let count = u64::from((x1 - x0) * (y1 - y0)).max(1);
            out.extend(sum.iter().map(|s| (s / count) as u8));
        }
    }
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, out_w, out_h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().ok()?;
        writer.write_image_data(&out).ok()?;
    }
    let text = base64::engine::general_purpose::STANDARD.encode(encoded);
    (text.len() <= THUMBNAIL_MOST_BYTES).then_some(text)
}

/// The source pixels `[start, end)` that output pixel `i` of `out` covers.
fn span(i: u32, out: u32, source: u32) -> (u32, u32) {
    let start = (u64::from(i) * u64::from(source) / u64::from(out)) as u32;
    let end = ((u64::from(i) + 1) * u64::from(source) / u64::from(out)) as u32;
    (start, end.max(start + 1).min(source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{DisplayItem, RunResult};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().unwrap();
        let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i % 251) as u8).collect();
        writer.write_image_data(&pixels).unwrap();
        drop(writer);
        bytes
    }

    fn report_with(images: &[Vec<u8>]) -> RunReport {
        RunReport {
            stdout: String::new(),
            stderr: String::new(),
            result: RunResult::Succeeded { value: None },
            environment: crate::mcp::EnvironmentId("e".into()),
            displays: images
                .iter()
                .map(|b| DisplayItem::single("image/png", &base64::engine::general_purpose::STANDARD.encode(b)))
                .chain([DisplayItem::single("text/html", "<table></table>")])
                .collect(),
            fresh_environment: false,
            notices: Vec::new(),
            wall_time: std::time::Duration::ZERO,
            execution_ms: None,
            variables: None,
            files: Vec::new(),
            files_more: 0,
            mirror_failures: Vec::new(),
        }
    }

    #[test]
    fn figures_are_saved_owner_only_with_their_size() {
        let dir = std::env::temp_dir().join(format!("azsb-figures-{}", std::process::id()));
        let store = FigureStore::bounded(dir.clone(), DEFAULT_BUDGET);
        let figures = store.save("plot", &report_with(&[png(640, 480)]));
        assert_eq!(figures.len(), 1, "the HTML item is not a figure");
        let figure = &figures[0];
        assert_eq!((figure.width, figure.height, figure.mime.as_str()), (Some(640), Some(480), "image/png"));
        assert_eq!(fs::read(&figure.path).unwrap(), png(640, 480));
        assert!(figure.uri.starts_with("file:///") && figure.describe().starts_with("PNG 640×480, "));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&figure.path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let thumb = base64::engine::general_purpose::STANDARD.decode(figure.thumbnail.as_ref().unwrap()).unwrap();
        assert_eq!(crate::run::png_size(&thumb), Some((240, 180)));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_store_drops_the_oldest_beyond_its_budget() {
        let dir = std::env::temp_dir().join(format!("azsb-figures-budget-{}", std::process::id()));
        let one = png(200, 200).len() as u64;
        let store = FigureStore::bounded(dir.clone(), one * 2 + one / 2);
        let first = store.save("a", &report_with(&[png(200, 200)]));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = store.save("b", &report_with(&[png(200, 200), png(200, 200)]));
        assert!(!first[0].path.exists(), "the oldest went first");
        assert!(later.iter().all(|f| f.path.exists()));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn thumbnails_keep_small_images_and_refuse_garbage() {
        let small = thumbnail(&png(30, 10)).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(small).unwrap();
        assert_eq!(crate::run::png_size(&bytes), Some((30, 10)));
        assert!(thumbnail(b"not a png").is_none());
    }
}

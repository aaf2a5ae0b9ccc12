//! Rich output: display items (mime bundles, as Jupyter's) that the runtime
//! collects from matplotlib figures, `display(obj)` and rich trailing
//! values, and the settings that shape them. Binary data is base64 until a
//! front end saves it.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Image types in the order one is preferred when an item has several.
pub const IMAGE_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/svg+xml"];
/// Text forms a front end can render, richest first.
pub const TEXT_TYPES: [&str; 4] = ["text/html", "text/markdown", "text/latex", "text/plain"];

/// One display item: each form the object offered, by mime type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DisplayItem {
    /// mime type → data (base64 for `image/png` and `image/jpeg`).
    pub data: BTreeMap<String, String>,
    /// How many characters of the run's stdout came before it.
    #[serde(default, rename = "at")]
    pub after_stdout: Option<usize>,
    /// The rich form of the cell's trailing value (whose repr is also the
    /// run's value).
    #[serde(default, rename = "result")]
    pub is_result: bool,
}

/// An image of a display item, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub mime: &'static str,
    pub bytes: Vec<u8>,
    /// Pixels, when the format says (PNG and JPEG).
    pub size: Option<(u32, u32)>,
}

impl DisplayItem {
    /// An item of one form (an MCP image content block).
    pub fn single(mime_type: &str, data: &str) -> Self {
        Self { data: BTreeMap::from([(mime_type.to_owned(), data.to_owned())]), after_stdout: None, is_result: false }
    }

    /// Its image, decoded: the first of PNG, JPEG, SVG it has. `None` when
    /// it has none or the data does not decode.
    pub fn image(&self) -> Option<Image> {
        let mime = IMAGE_TYPES.into_iter().find(|m| self.data.contains_key(*m))?;
        let data = &self.data[mime];
        let bytes = if mime == "image/svg+xml" {
            data.as_bytes().to_vec()
        } else {
            base64::engine::general_purpose::STANDARD.decode(data.trim()).ok()?
        };
        let size = match mime {
            "image/png" => png_size(&bytes),
            "image/jpeg" => jpeg_size(&bytes),
            _ => None,
        };
        Some(Image { mime, bytes, size })
    }

    /// Its text forms (HTML, Markdown, LaTeX, plain), for front ends that
    /// render those.
    pub fn texts(&self) -> BTreeMap<&str, &str> {
        TEXT_TYPES.into_iter().filter_map(|m| self.data.get(m).map(|d| (m, d.as_str()))).collect()
    }

    /// The plain-text form, if any.
    pub fn plain(&self) -> Option<&str> {
        self.data.get("text/plain").map(String::as_str)
    }
}

/// Width and height from a PNG's IHDR chunk.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((word(16), word(20)))
}

/// Width and height from a JPEG's start-of-frame segment.
pub fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    while at + 9 < bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let height = u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]);
            let width = u16::from_be_bytes([bytes[at + 7], bytes[at + 8]]);
            return Some((u32::from(width), u32::from(height)));
        }
        at += 2 + length;
    }
    None
}

/// How figures are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FigureFormat {
    #[default]
    Png,
    Svg,
}

/// What the runtime does with rich output, per run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisplayOptions {
    /// Dots per inch of a PNG figure.
    pub dpi: f64,
    /// A new figure's size in inches (width, height).
    pub figure_size: (f64, f64),
    pub format: FigureFormat,
    /// Bytes of display data one run may send back; items beyond are
    /// dropped and counted.
    pub limit: usize,
}

pub const DEFAULT_DISPLAY_LIMIT: usize = 10_000_000;

impl Default for DisplayOptions {
    /// matplotlib's own defaults: 640×480 pixels.
    fn default() -> Self {
        Self { dpi: 100.0, figure_size: (6.4, 4.8), format: FigureFormat::Png, limit: DEFAULT_DISPLAY_LIMIT }
    }
}

impl DisplayOptions {
    /// The request's fields for these options: only what differs from the
    /// runtime's defaults (they go with every run).
    pub fn request_fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        let default = Self::default();
        let mut fields = Vec::new();
        if self.limit != default.limit {
            fields.push(("displayLimit", json!(self.limit)));
        }
        let mut figures = serde_json::Map::new();
        if self.dpi != default.dpi {
            figures.insert("dpi".into(), json!(self.dpi));
        }
        if self.figure_size != default.figure_size {
            figures.insert("size".into(), json!([self.figure_size.0, self.figure_size.1]));
        }
        if self.format != default.format {
            figures.insert("format".into(), json!(self.format));
        }
        if !figures.is_empty() {
            fields.push(("figures", serde_json::Value::Object(figures)));
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_decode_with_their_size() {
        // A 3×2 PNG's signature and IHDR (the rest is not read).
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&3u32.to_be_bytes());
        png.extend_from_slice(&2u32.to_be_bytes());
        let encoded = base64::engine::general_purpose::STANDARD.encode(&png);
        let mut item = DisplayItem::single("image/png", &encoded);
        item.data.insert("text/plain".into(), "<Figure>".into());
        let image = item.image().unwrap();
        assert_eq!((image.mime, image.size, image.bytes.len()), ("image/png", Some((3, 2)), png.len()));
        assert_eq!(item.texts().keys().copied().collect::<Vec<_>>(), ["text/plain"]);
        assert!(DisplayItem::single("image/png", "not base64!").image().is_none());
        let svg = DisplayItem::single("image/svg+xml", "<svg/>").image().unwrap();
        assert_eq!((svg.mime, svg.size), ("image/svg+xml", None));
    }

    #[test]
    fn jpeg_size_reads_the_frame_header() {
        // SOI, an APP0 segment of 4 bytes, then SOF0: height 7, width 9.
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0, 7, 0, 9, 3, 0, 0];
        assert_eq!(jpeg_size(&jpeg), Some((9, 7)));
        assert_eq!(jpeg_size(&[0xFF, 0xD8, 0xFF]), None);
        assert_eq!(png_size(b"GIF89a"), None);
    }

    #[test]
    fn only_changed_options_travel() {
        assert!(DisplayOptions::default().request_fields().is_empty());
        let options = DisplayOptions { dpi: 50.0, format: FigureFormat::Svg, ..Default::default() };
        let fields = options.request_fields();
        assert_eq!(fields, [("figures", json!({"dpi": 50.0, "format": "svg"}))]);
    }
}

//! Conversions between LSP types and the core's. The only place besides the
//! handlers that touches `lsp_types`.

use tower_lsp_server::UriExt;
use tower_lsp_server::lsp_types::{Position, PositionEncodingKind, Range, Uri};

use crate::text::{Document, Pos, PositionEncoding};

pub fn pos(position: Position) -> Pos {
    Pos::new(position.line, position.character)
}

pub fn position(pos: Pos) -> Position {
    Position::new(pos.line, pos.character)
}

pub fn range(start: Pos, end: Pos) -> Range {
    Range::new(position(start), position(end))
}

/// UTF-8 when the client offers it, else UTF-16 (the protocol's default).
pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> PositionEncoding {
    match offered {
        Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => PositionEncoding::Utf8,
        _ => PositionEncoding::Utf16,
    }
}

pub fn encoding_kind(encoding: PositionEncoding) -> PositionEncodingKind {
    match encoding {
        PositionEncoding::Utf8 => PositionEncodingKind::UTF8,
        PositionEncoding::Utf16 => PositionEncodingKind::UTF16,
        PositionEncoding::Utf32 => PositionEncodingKind::UTF32,
    }
}

/// A range over char columns of a document (as Python reports them).
pub fn char_range(
    doc: &Document,
    line: u32,
    start: Option<u32>,
    end_line: u32,
    end: Option<u32>,
    encoding: PositionEncoding,
) -> Range {
    let from = match start {
        Some(column) => doc.char_column(line, column, encoding),
        None => doc.first_non_blank(line, encoding),
    };
    let to = match end {
        Some(column) => doc.char_column(end_line, column, encoding),
        None => doc.line_end(end_line, encoding),
    };
    range(from, to.max(from))
}

/// The path of a `file:` URI. (tower-lsp's `to_file_path` does not look at
/// the scheme, so `untitled:Untitled-1` would become a relative path.)
pub fn file_path(uri: &Uri) -> Option<std::path::PathBuf> {
    if !uri.scheme().is_some_and(|s| s.as_str().eq_ignore_ascii_case("file")) {
        return None;
    }
    uri.to_file_path().map(|p| p.into_owned()).filter(|p| p.is_absolute())
}

/// The name tracebacks carry for a document: its path, or the URI itself
/// for documents that are not files.
pub fn filename(uri: &Uri) -> String {
    match file_path(uri) {
        Some(path) => path.to_string_lossy().into_owned(),
        None => uri.as_str().to_owned(),
    }
}

/// The URI of a traceback's file name, when it is an absolute path.
pub fn uri_of_file(file: &str) -> Option<Uri> {
    let path = std::path::Path::new(file);
    if path.is_absolute() { Uri::from_file_path(path) } else { file.parse().ok() }
}

/// The last path segment of a URI, for labels.
pub fn short_name(uri: &Uri) -> String {
    let text = uri.as_str();
    let name = text.rsplit('/').next().unwrap_or(text);
    percent_decode(name)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_files() {
        let uri: Uri = "file:///work/my%20project/main%20file.py".parse().unwrap();
        assert_eq!(short_name(&uri), "main file.py");
        assert_eq!(filename(&uri), "/work/my project/main file.py");
        assert_eq!(uri_of_file("/work/my project/main file.py").unwrap(), uri);
        let untitled: Uri = "untitled:Untitled-1".parse().unwrap();
        assert_eq!(filename(&untitled), "untitled:Untitled-1");
    }

    #[test]
    fn negotiation_prefers_utf8() {
        assert_eq!(negotiate(Some(&[PositionEncodingKind::UTF16, PositionEncodingKind::UTF8])), PositionEncoding::Utf8);
        assert_eq!(negotiate(Some(&[PositionEncodingKind::UTF32])), PositionEncoding::Utf16);
        assert_eq!(negotiate(None), PositionEncoding::Utf16);
    }
}

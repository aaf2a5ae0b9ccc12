//! Statement boundaries from tree-sitter's Python grammar, which tolerates
//! the half-written code an editor holds.

use tree_sitter::Parser;

/// The top-level statement that covers 0-based `line`, as an inclusive line
/// range: a whole `def` or `for` block when the line is inside one, with its
/// decorators. `None` on blank lines and comments between statements.
pub fn top_level_statement(text: &str, line: usize) -> Option<(usize, usize)> {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_python::LANGUAGE.into()).ok()?;
    let tree = parser.parse(text, None)?;
    let root = tree.root_node();
    let mut cursor = root.walk();
    for node in root.named_children(&mut cursor) {
        if node.kind() == "comment" {
            continue;
        }
        let (start, end) = (node.start_position().row, node.end_position().row);
        // A node ending at column 0 of the next line does not cover that line.
        let end = if node.end_position().column == 0 && end > start { end - 1 } else { end };
        if start <= line && line <= end {
            return Some((start, end));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "import os\n\n@decorator\ndef f(x):\n    y = x + 1\n\n    return y\n\n# a comment\nresult = f(\n    2,\n)\nif True:\n    pass\n";

    #[test]
    fn blocks_and_multi_line_expressions() {
        assert_eq!(top_level_statement(CODE, 0), Some((0, 0)));
        assert_eq!(top_level_statement(CODE, 4), Some((2, 6)), "inside a decorated def");
        assert_eq!(top_level_statement(CODE, 2), Some((2, 6)));
        assert_eq!(top_level_statement(CODE, 10), Some((9, 11)), "a call spread over lines");
        assert_eq!(top_level_statement(CODE, 13), Some((12, 13)));
        assert_eq!(top_level_statement(CODE, 8), None, "comment");
        assert_eq!(top_level_statement(CODE, 1), None, "blank");
        assert_eq!(top_level_statement(CODE, 99), None);
    }

    #[test]
    fn broken_code_still_has_statements() {
        let code = "x = 1\nif x:\n    print(\ny = 2\n";
        assert_eq!(top_level_statement(code, 0), Some((0, 0)));
        assert!(top_level_statement(code, 1).is_some());
    }
}

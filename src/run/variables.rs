//! Live state: what the environment's namespace holds, as the runtime
//! describes it after each run (only what changed since the snapshot the
//! client last saw), and one level of a value's contents on demand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One name's value, described without running its code where that can be
/// avoided: only the bounded `repr` may run the user's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    /// `int`, `pandas.DataFrame`, `numpy.ndarray[float64]`, `mymodule.Thing`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// `(3, 4)` for arrays and frames, `len 3` for builtin containers.
    #[serde(default)]
    pub shape: Option<String>,
    /// Bytes, where cheap to know (builtins' shallow size, arrays, frames).
    #[serde(default)]
    pub size: Option<u64>,
    /// At most 200 characters, or a placeholder (`<repr() took too long>`).
    pub repr: String,
    /// A DataFrame's column names (the first 200).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// It has contents to list one level down.
    #[serde(default)]
    pub expandable: bool,
}

/// What changed in the namespace since snapshot `epoch:seq - 1`, or all of
/// it (`full`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VariablesDelta {
    /// Names the interpreter that made it (a new one starts over).
    pub epoch: String,
    pub seq: u64,
    pub full: bool,
    #[serde(default)]
    pub set: BTreeMap<String, Variable>,
    #[serde(default)]
    pub removed: Vec<String>,
}

impl VariablesDelta {
    /// How a request names the snapshot it has.
    pub fn token(&self) -> String {
        format!("{}:{}", self.epoch, self.seq)
    }
}

/// One item of a value's contents (a key, an index, a column, an attribute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Child {
    pub name: String,
    #[serde(flatten)]
    pub value: Variable,
}

/// What kind of attribute, found without evaluating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeKind {
    Method,
    Property,
    Field,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub kind: AttributeKind,
}

/// What to look up at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectKind {
    /// One level of contents.
    Children,
    /// Attribute names, for completion.
    Attributes,
}

/// The environment's answer about one path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Inspection {
    /// Nothing is at that path (any more).
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub children: Vec<Child>,
    /// Children not listed (beyond the first 100).
    #[serde(default)]
    pub more: u64,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    /// Listing it raised: the exception's type and message.
    #[serde(default)]
    pub failed: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_inspections_parse() {
        let delta: VariablesDelta = serde_json::from_str(
            r#"{"epoch": "ab", "seq": 3, "full": false, "set": {"df": {"type": "pandas.DataFrame",
                "shape": "(2, 2)", "size": 164, "columns": ["a", "b"], "repr": "   a  b", "expandable": true}},
                "removed": ["old"]}"#,
        )
        .unwrap();
        assert_eq!(delta.token(), "ab:3");
        assert_eq!(delta.set["df"].columns, ["a", "b"]);
        assert_eq!(delta.removed, ["old"]);
        let inspection: Inspection = serde_json::from_str(
            r#"{"children": [{"name": "a", "type": "int", "repr": "1"}], "more": 2,
                "attributes": [{"name": "boom", "kind": "property"}]}"#,
        )
        .unwrap();
        assert_eq!((inspection.children[0].name.as_str(), inspection.more), ("a", 2));
        assert_eq!(inspection.attributes[0].kind, AttributeKind::Property);
    }
}

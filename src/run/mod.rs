//! The run engine: from "these lines of this file" to a structured result.
//!
//! API boundary: [`Engine::run`] takes a [`Snippet`] and a [`WorkspaceKey`]
//! and returns a [`RunReport`]. No editor types here; the language server and
//! the command line both sit on top.

pub(crate) mod bulk;
pub mod cells;
pub(crate) mod display;
pub(crate) mod engine;
pub(crate) mod outcome;
pub(crate) mod output;
pub(crate) mod registry;
pub mod selection;
pub(crate) mod snippet;
pub(crate) mod statements;
pub(crate) mod variables;
pub(crate) mod wrapper;

pub use display::{DisplayItem, DisplayOptions, FigureFormat, Image, png_size};
pub use engine::{Engine, RunOptions, RunReport, RunResult};
pub use outcome::{ChangedFile, Frame, PyException, marker_reply};
pub use output::{Notice, Output, StateLoss, Stream, human_bytes};
pub use registry::{Registry, WorkspaceKey, workspace_root};
pub use selection::{Cut, Selection, SelectionError, Source, cut_code};
pub use snippet::Snippet;
pub use variables::{Attribute, AttributeKind, Child, InspectKind, Inspection, Variable, VariablesDelta};
pub use wrapper::{DEFAULT_OUTPUT_LIMIT, MirrorSpec};

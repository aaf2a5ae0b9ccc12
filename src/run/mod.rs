//! The run engine: from "these lines of this file" to a structured result.
//!
//! API boundary: [`Engine::run`] takes a [`Snippet`] and a [`WorkspaceKey`]
//! and returns a [`RunReport`]. No editor types here; the language server and
//! the command line both sit on top.

pub mod cells;
pub mod engine;
pub mod outcome;
pub mod registry;
pub mod snippet;
pub mod statements;
pub mod wrapper;

pub use engine::{Engine, RunReport, RunResult};
pub use outcome::{Frame, PyException};
pub use registry::{Registry, WorkspaceKey, workspace_root};
pub use snippet::Snippet;

//! The typed output model: what a run produced, as a sequence of outputs,
//! and what the user should know about it, as typed notices. Front ends
//! render these; none of them parses English.

use serde::Serialize;

use super::display::DisplayItem;
use super::outcome::PyException;

/// One of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One piece of a run's output, in the order a notebook shows them.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<'a> {
    Stream {
        stream: Stream,
        text: &'a str,
    },
    /// The `repr` of a trailing expression.
    Value(&'a str),
    /// A figure, an image, a table: what the runtime collected, or an MCP
    /// image content block.
    Display(&'a DisplayItem),
    Error(&'a PyException),
}

/// Why the environment's earlier state (variables, imports) is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StateLoss {
    /// The service had destroyed the idle environment; a new one was
    /// launched and the code ran there.
    Expired,
    /// The environment's interpreter was killed (time limit, crash, memory)
    /// and replaced.
    InterpreterReplaced,
}

/// Something about a run the user should know, beside its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Notice {
    StateLost {
        reason: StateLoss,
    },
    /// The sandbox cut a stream at its output limit, and the whole of it
    /// could not be fetched: what is shown is what the sandbox kept.
    OutputCut {
        stream: Stream,
    },
    /// A stream was longer than the output limit (10 MB by default): this
    /// many characters were dropped from its middle; its start and end show.
    OutputDropped {
        stream: Stream,
        characters: u64,
    },
    /// The run's figures and tables were larger than its display limit
    /// (10 MB by default): this many items, of this many bytes, were not sent.
    DisplaysDropped {
        count: u64,
        bytes: u64,
    },
    /// The run made figures or tables, but they could not be fetched from
    /// the environment (its record was gone, or the service failed).
    DisplaysLost {
        count: u64,
    },
    /// The workspace's files were too many or too large to mirror
    /// (`bytes` over `budget`, or more files than a mirror takes): none
    /// were sent, and the code ran without them.
    MirrorSkipped {
        bytes: u64,
        budget: u64,
    },
}

impl Notice {
    /// The sentence a front end shows.
    pub fn message(&self) -> String {
        match self {
            Notice::StateLost { reason: StateLoss::Expired } => {
                "The sandbox environment had expired, so a new one was started and the code ran there. \
                 Earlier state (variables, imports) was lost: re-run the cells it depends on."
                    .to_owned()
            }
            Notice::StateLost { reason: StateLoss::InterpreterReplaced } => {
                "The environment's Python process was replaced, so its state (variables, imports) is gone: \
                 re-run the cells this code depends on."
                    .to_owned()
            }
            Notice::OutputCut { stream } => {
                format!("The sandbox cut this run's {}; what is shown is what it kept.", stream.name())
            }
            Notice::OutputDropped { stream, characters } => format!(
                "This run's {} was longer than the output limit: {characters} characters were dropped from its \
                 middle; its start and its end are shown.",
                stream.name()
            ),
            Notice::DisplaysDropped { count, bytes } => format!(
                "{count} figure{s} or table{s} ({size}) did not fit in the run's display limit and {were} not \
                 shown: raise azureSandbox.displayLimit, or lower figureDpi or the figure's size.",
                s = if *count == 1 { "" } else { "s" },
                were = if *count == 1 { "was" } else { "were" },
                size = human_bytes(*bytes),
            ),
            Notice::MirrorSkipped { bytes, budget } => format!(
                "The workspace's files ({}) are too {} for the sandbox's copy of it, so none were sent and the code \
                 ran without them. Exclude some (azureSandbox.mirrorExclude or .gitignore), raise \
                 azureSandbox.mirrorBudget, or send what the code needs (azureSandbox.sendFiles).",
                if *bytes == 0 { "more than 10,000 files".to_owned() } else { human_bytes(*bytes) },
                if *bytes == 0 { "many".to_owned() } else { format!("large (the budget is {})", human_bytes(*budget)) },
            ),
            Notice::DisplaysLost { count } => format!(
                "This run made {count} figure{s} or table{s} that could not be fetched from the sandbox; \
                 run it again to see {them}.",
                s = if *count == 1 { "" } else { "s" },
                them = if *count == 1 { "it" } else { "them" },
            ),
        }
    }

    /// Whether the user must act on it (shown as a warning, not only logged).
    pub fn is_warning(&self) -> bool {
        matches!(self, Notice::StateLost { .. } | Notice::MirrorSkipped { .. })
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// `23 KB`, `1.5 MB`: sizes as a user reads them.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1000 => format!("{bytes} B"),
        1000..1_000_000 => format!("{} KB", (bytes + 500) / 1000),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_serialise_as_tagged_objects() {
        let lost = Notice::StateLost { reason: StateLoss::Expired };
        assert_eq!(serde_json::to_value(lost).unwrap(), serde_json::json!({"kind": "stateLost", "reason": "expired"}));
        let cut = Notice::OutputCut { stream: Stream::Stderr };
        assert_eq!(serde_json::to_value(cut).unwrap(), serde_json::json!({"kind": "outputCut", "stream": "stderr"}));
        assert!(lost.is_warning() && !cut.is_warning());
        assert!(lost.to_string().contains("expired"));
    }
}

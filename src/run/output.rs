//! The typed output model: what a run produced, as a sequence of outputs,
//! and what the user should know about it, as typed notices. Front ends
//! render these; none of them parses English.

use serde::Serialize;

use super::outcome::PyException;

/// One of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Rich data the sandbox returned beside the text streams: an MCP image
/// content block, or (later) a figure or table the runtime sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayItem {
    pub mime_type: String,
    /// The data as the service sent it: base64 for binary types.
    pub data: String,
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
        }
    }

    /// Whether the user must act on it (shown as a warning, not only logged).
    pub fn is_warning(&self) -> bool {
        matches!(self, Notice::StateLost { .. })
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
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

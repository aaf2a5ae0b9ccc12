//! The bulk channel: a run's whole record (outcome, stdout, stderr) fetched
//! through a service that cuts each stream at a few thousand characters.
//!
//! The runtime keeps the record in the environment. The client asks for it
//! as pieces of one immutable payload (JSON, zlib, base64), each printed on a
//! marker line short enough to pass the cut: the first piece tells the total
//! length, and the rest go out several at a time. A piece that comes back
//! cut is asked again in halves, so the channel works whatever the cap is.
//! The same channel will carry figures and files.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use serde::Deserialize;

use super::display::DisplayItem;
use super::outcome::{Outcome, marker_payload};
use super::wrapper;
use crate::mcp::{EnvironmentId, McpClient};

/// What the runtime kept of one run.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub outcome: Outcome,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    /// Characters dropped from the middle of each stream past the output limit.
    #[serde(default)]
    pub dropped: Dropped,
    /// Figures, images and tables, in the order the run made them.
    #[serde(default)]
    pub displays: Vec<DisplayItem>,
    /// What changed in the namespace, when too long for the result line.
    #[serde(default)]
    pub vars: Option<super::variables::VariablesDelta>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Dropped {
    #[serde(default)]
    pub stdout: u64,
    #[serde(default)]
    pub stderr: u64,
}

/// A piece's marker line besides the piece: the marker, the nonce and a
/// little JSON. Pieces are the observed cap less this.
const PIECE_OVERHEAD: usize = 120;
/// A piece when no cap was seen: the service most likely cuts at 4,096
/// characters, and a piece that comes back cut is asked again in halves.
const FIRST_PIECE: usize = 3900;
const SMALLEST_PIECE: usize = 64;
/// Pieces in flight at once: a 60 KB figure is about 21 pieces under the
/// service's cap, which then take one round trip.
const IN_FLIGHT: usize = 24;
/// The largest piece: the local sandbox with its cap raised passes megabytes.
const LARGEST_PIECE: usize = 1 << 20;
/// More than any record within the output limit (two streams of 10 MB).
const MOST_BYTES: usize = 64 << 20;
const PIECE_TIMEOUT: Duration = Duration::from_secs(30);

/// What one request for a piece gave.
enum Reply {
    Piece {
        piece: String,
        total: usize,
    },
    /// The environment has no record of the run (its interpreter was replaced).
    Missing,
    /// The marker line did not arrive whole: the piece was too long for the cap.
    Cut,
    Failed,
}

#[derive(Deserialize)]
struct PieceJson {
    #[serde(default)]
    piece: String,
    #[serde(default)]
    total: usize,
    #[serde(default)]
    missing: bool,
}

/// Fetches run `nonce`'s record from `environment`. `observed_cap` is the
/// length (in characters) of the cut stdout the run came back with, if any;
/// `known_total` the payload's length, when the run's outcome told it (then
/// every piece goes out at once, with no first piece to learn it).
pub async fn fetch_record(
    client: &McpClient,
    environment: &EnvironmentId,
    nonce: &str,
    observed_cap: Option<usize>,
    known_total: Option<usize>,
) -> Option<Record> {
    fetch(client, environment, nonce, observed_cap, known_total).await
}

/// [`fetch_record`] for any payload the runtime kept under `nonce` (an
/// inspection too long for the cap).
pub async fn fetch<T: serde::de::DeserializeOwned>(
    client: &McpClient,
    environment: &EnvironmentId,
    nonce: &str,
    observed_cap: Option<usize>,
    known_total: Option<usize>,
) -> Option<T> {
    let mut size = observed_cap
        .map(|cap| cap.saturating_sub(PIECE_OVERHEAD))
        .filter(|size| *size >= SMALLEST_PIECE)
        .unwrap_or(FIRST_PIECE)
        .min(LARGEST_PIECE);
    // The first piece, halved until one arrives whole: it tells the total.
    let (first, total) = match known_total {
        Some(total) => (String::new(), total),
        None => loop {
            match piece(client, environment, nonce, 0, size).await {
                Reply::Piece { piece, total } => break (piece, total),
                Reply::Cut if size > SMALLEST_PIECE => size /= 2,
                _ => return None,
            }
        },
    };
    if total > MOST_BYTES * 2 {
        tracing::warn!("the run's record claims {total} characters; not fetching it");
        return None;
    }
    let mut text = first;
    if text.len() < total {
        let step = if text.is_empty() { size } else { text.len().max(SMALLEST_PIECE) };
        let offsets: Vec<usize> = (text.len()..total).step_by(step).collect();
        let pieces: Vec<Option<String>> = futures_util::stream::iter(offsets)
            .map(|offset| whole_range(client, environment, nonce, offset, step.min(total - offset)))
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        for piece in pieces {
            text.push_str(&piece?);
        }
    }
    if text.len() != total {
        tracing::warn!("the run's record came back with {} of {total} characters", text.len());
        return None;
    }
    decode(&text)
}

/// Characters `offset..offset + size` of the payload, in as many requests as
/// the cap needs (halving a piece that comes back cut).
async fn whole_range(
    client: &McpClient,
    environment: &EnvironmentId,
    nonce: &str,
    offset: usize,
    size: usize,
) -> Option<String> {
    let mut wanted: BTreeMap<usize, usize> = BTreeMap::from([(offset, size)]);
    let mut got = String::new();
    while let Some((&at, &length)) = wanted.iter().next() {
        wanted.remove(&at);
        match piece(client, environment, nonce, at, length).await {
            Reply::Piece { piece, .. } if piece.len() == length || !piece.is_empty() => {
                let taken = piece.len();
                got.push_str(&piece);
                if taken < length {
                    wanted.insert(at + taken, length - taken);
                }
            }
            Reply::Cut if length > SMALLEST_PIECE => {
                let half = length / 2;
                wanted.insert(at, half);
                wanted.insert(at + half, length - half);
            }
            _ => return None,
        }
    }
    Some(got)
}

async fn piece(client: &McpClient, environment: &EnvironmentId, nonce: &str, offset: usize, size: usize) -> Reply {
    let code = wrapper::bulk_code(nonce, offset, size);
    let output = match client.run_python_with_timeout(environment, &code, PIECE_TIMEOUT).await {
        Ok(output) => output,
        Err(e) => {
            tracing::warn!("could not fetch a piece of the run's output: {e}");
            return Reply::Failed;
        }
    };
    let Some(json) = marker_payload(&output.stdout, nonce) else { return Reply::Cut };
    match serde_json::from_str::<PieceJson>(json) {
        Ok(reply) if reply.missing => Reply::Missing,
        Ok(reply) => Reply::Piece { piece: reply.piece, total: reply.total },
        // A marker line cut in the middle of its JSON.
        Err(_) => Reply::Cut,
    }
}

/// base64, then zlib, then JSON; bounded, so a forged total cannot make the
/// client allocate without limit.
fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    let compressed = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MOST_BYTES).ok()?;
    // Output the runtime could not encode (lone surrogates) is not UTF-8:
    // it becomes U+FFFD, as the service's own text would.
    serde_json::from_str(&String::from_utf8_lossy(&raw)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_decodes_and_a_bomb_does_not() {
        let json =
            r#"{"outcome": {"status": "ok", "value": "3"}, "stdout": "x\n", "stderr": "", "dropped": {"stdout": 5}}"#;
        let packed = miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), 6);
        let text = base64::engine::general_purpose::STANDARD.encode(packed);
        let record: Record = decode(&text).unwrap();
        assert_eq!((record.stdout.as_str(), record.dropped.stdout), ("x\n", 5));
        assert_eq!(record.outcome.value.as_deref(), Some("3"));
        // 100 MB of zeros compress to a few hundred KB: refused, not inflated.
        let bomb = miniz_oxide::deflate::compress_to_vec_zlib(&vec![b' '; 100 << 20], 9);
        assert!(decode::<Record>(&base64::engine::general_purpose::STANDARD.encode(bomb)).is_none());
        assert!(decode::<Record>("not base64!").is_none());
    }
}

//! Names for a workspace's files in the cache directory (its transcript,
//! its shared log): short, stable, and safe in file names and URIs.

use std::path::Path;

/// A hash of the root, and the root's own name made safe.
pub fn workspace_names(root: &Path) -> (String, String) {
    let name: String = root
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
                .collect()
        })
        .filter(|n: &String| !n.is_empty())
        .unwrap_or_else(|| "workspace".into());
    (format!("{:012x}", fnv1a(root.as_os_str().as_encoded_bytes()) & 0xffff_ffff_ffff), name)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

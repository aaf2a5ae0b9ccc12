//! Where the mirror lives in the environment, and where a run runs in it.

use std::path::Path;

use crate::run::MirrorSpec;

/// The mirror's directory name in the environment: the workspace folder's
/// name, made safe.
pub fn mirror_name(root: &Path) -> String {
    let name: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() { "workspace".to_owned() } else { name.to_owned() }
}

/// Where a run of `file` (in workspace `root`) runs in the mirror.
pub fn spec_for(root: &Path, file: &Path) -> MirrorSpec {
    let dir = file
        .parent()
        .and_then(|d| d.strip_prefix(root).ok())
        .map(|d| d.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"))
        .unwrap_or_default();
    MirrorSpec { name: mirror_name(root), dir, local: root.to_string_lossy().into_owned(), files: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_specs() {
        assert_eq!(mirror_name(Path::new("/home/me/My Project")), "My_Project");
        assert_eq!(mirror_name(Path::new("/")), "workspace");
        assert_eq!(mirror_name(Path::new("/w/.hidden")), "hidden");
        let spec = spec_for(Path::new("/w/proj"), Path::new("/w/proj/src/jobs/a.py"));
        assert_eq!((spec.name.as_str(), spec.dir.as_str(), spec.local.as_str()), ("proj", "src/jobs", "/w/proj"));
        assert_eq!(spec_for(Path::new("/w/proj"), Path::new("/elsewhere/a.py")).dir, "");
    }
}

//! The attributes of live objects, as completion after `name.` last found
//! them. Looking costs a round trip, and completion waits 300 ms at most:
//! a look that takes longer goes on in the background and lands here, so
//! the editor's next request (it asks again: the list said it was
//! incomplete) has them at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::run::Attribute;

/// More than any user completes on between two runs.
const MOST: usize = 256;

/// A name in a workspace.
type Key = (PathBuf, String);
/// The run that last set the name when it was looked at, and its attributes.
type Found = (u64, Arc<Vec<Attribute>>);

#[derive(Default)]
pub struct AttributeCache {
    found: Mutex<HashMap<Key, Found>>,
    /// Looks under way (and the run they are for): one at a time per name.
    looking: Mutex<HashMap<Key, u64>>,
}

impl AttributeCache {
    /// The attributes of `name` in workspace `root`, if they were looked at
    /// since run `run_id` last set it.
    pub fn get(&self, root: &Path, name: &str, run_id: u64) -> Option<Arc<Vec<Attribute>>> {
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found
            .get(&(root.to_path_buf(), name.to_owned()))
            .filter(|(seen, _)| *seen == run_id)
            .map(|(_, a)| Arc::clone(a))
    }

    /// True when no look at `name` for run `run_id` is under way: the
    /// caller starts one, and ends it with [`AttributeCache::done`].
    pub fn start_looking(&self, root: &Path, name: &str, run_id: u64) -> bool {
        let mut looking = self.looking.lock().unwrap_or_else(|e| e.into_inner());
        let key = (root.to_path_buf(), name.to_owned());
        if looking.get(&key) == Some(&run_id) {
            return false;
        }
        looking.insert(key, run_id);
        true
    }

    /// A look ended: with what it found, if it found anything.
    pub fn done(&self, root: &Path, name: &str, run_id: u64, attributes: Option<Arc<Vec<Attribute>>>) {
        let key = (root.to_path_buf(), name.to_owned());
        self.looking.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        let Some(attributes) = attributes else { return };
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() >= MOST {
            found.clear();
        }
        found.insert(key, (run_id, attributes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::AttributeKind;

    #[test]
    fn a_name_set_again_is_looked_at_again() {
        let cache = AttributeCache::default();
        let root = Path::new("/w");
        let shape = Arc::new(vec![Attribute { name: "shape".into(), kind: AttributeKind::Property }]);
        assert!(cache.start_looking(root, "df", 3));
        assert!(!cache.start_looking(root, "df", 3), "one look at a time");
        cache.done(root, "df", 3, Some(Arc::clone(&shape)));
        assert!(cache.start_looking(root, "df", 3), "the look ended");
        assert_eq!(cache.get(root, "df", 3).as_deref(), Some(&*shape));
        assert!(cache.get(root, "df", 4).is_none(), "set by a later run");
        assert!(cache.get(Path::new("/other"), "df", 3).is_none());
    }
}

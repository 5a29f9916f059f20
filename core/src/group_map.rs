//! `jit.group_map` as the write path applies it: which application groups a
//! login grants, and whether a returning user already holds exactly those.
//!
//! The extension reads a provider's mappings once per backend (they change
//! when a DBA edits the table, which invalidates the copy) and decides here,
//! so a login whose groups did not change runs no mapping query and writes
//! no membership.

use std::collections::{BTreeSet, HashMap};

/// The IdP group every user of the provider is treated as having.
pub const EVERYONE: &str = "*";

/// One provider's rows of `jit.group_map`, indexed by IdP group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupMap {
    by_idp_group: HashMap<String, Vec<String>>,
}

impl GroupMap {
    /// From `(idp_group, app_group)` rows.
    pub fn new(rows: impl IntoIterator<Item = (String, String)>) -> GroupMap {
        let mut by_idp_group: HashMap<String, Vec<String>> = HashMap::new();
        for (idp, app) in rows {
            by_idp_group.entry(idp).or_default().push(app);
        }
        GroupMap { by_idp_group }
    }

    /// The application groups granted to a user whose token names
    /// `idp_groups`: every mapping of one of them, and of `*`. Distinct,
    /// in byte order. (Group names compare by bytes in SQL too: the
    /// database's collation is deterministic.)
    pub fn grants(&self, idp_groups: &[String]) -> Vec<String> {
        let mut out = BTreeSet::new();
        let named = idp_groups.iter().map(String::as_str);
        for idp in named.chain(std::iter::once(EVERYONE)) {
            if let Some(apps) = self.by_idp_group.get(idp) {
                out.extend(apps.iter().map(String::as_str));
            }
        }
        out.into_iter().map(str::to_string).collect()
    }
}

/// A returning user's memberships, as the login's write path reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Held<'a> {
    /// Groups whose membership carries a login's hold (`via_login`).
    pub by_login: &'a [String],
    /// Of those, the ones this provider's logins granted (`source` is the
    /// provider): the only ones its sync may take away.
    pub by_this_provider: &'a [String],
}

/// True when a login granting `grants` would change no membership: every
/// grant is already held by a login, and, when the login syncs (the
/// provider's `sync_groups` and a complete group list), this provider's
/// logins hold nothing outside the grants. This is the exact condition under
/// which `jit._sync_login_groups` writes nothing.
pub fn settled(grants: &[String], held: &Held<'_>, sync: bool) -> bool {
    let all_held = grants.iter().all(|g| held.by_login.contains(g));
    let none_to_release = !sync || held.by_this_provider.iter().all(|g| grants.contains(g));
    all_held && none_to_release
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn map() -> GroupMap {
        GroupMap::new(
            [
                ("eng", "dev"),
                ("eng", "vpn"),
                ("ops", "vpn"),
                ("*", "staff"),
            ]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string())),
        )
    }

    #[test]
    fn grants_are_distinct_sorted_and_include_everyone() {
        assert_eq!(
            map().grants(&s(&["ops", "eng", "eng"])),
            s(&["dev", "staff", "vpn"])
        );
        assert_eq!(map().grants(&[]), s(&["staff"]));
        assert_eq!(map().grants(&s(&["unknown"])), s(&["staff"]));
        assert_eq!(
            GroupMap::default().grants(&s(&["eng"])),
            Vec::<String>::new()
        );
    }

    #[test]
    fn group_names_compare_exactly() {
        // No case folding, no trimming: 'Eng' and 'eng ' are other groups.
        assert_eq!(map().grants(&s(&["Eng", "eng "])), s(&["staff"]));
    }

    #[test]
    fn settled_needs_every_grant_held_by_a_login() {
        let grants = s(&["a", "b"]);
        let by_login = s(&["a", "b", "c"]);
        let held = Held {
            by_login: &by_login,
            by_this_provider: &[],
        };
        assert!(settled(&grants, &held, true));
        let by_login = s(&["a"]);
        let held = Held {
            by_login: &by_login,
            by_this_provider: &[],
        };
        assert!(!settled(&grants, &held, true));
        assert!(!settled(&grants, &held, false));
    }

    #[test]
    fn settled_with_sync_needs_nothing_to_release() {
        let grants = s(&["a"]);
        let by_login = s(&["a", "old"]);
        let ours = s(&["a", "old"]);
        let held = Held {
            by_login: &by_login,
            by_this_provider: &ours,
        };
        assert!(!settled(&grants, &held, true));
        // Without sync (sync_groups off, or a partial group list) a login
        // only adds: "old" stays and nothing is to be done.
        assert!(settled(&grants, &held, false));
        // A login hold of another provider's grant is not this login's to drop.
        let ours = s(&["a"]);
        let held = Held {
            by_login: &by_login,
            by_this_provider: &ours,
        };
        assert!(settled(&grants, &held, true));
    }
}

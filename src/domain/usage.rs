//! Rules of a token's recorded use: which recent client addresses it keeps.

/// How many distinct recent IPs a token keeps.
pub const MAX_RECENT_IPS: usize = 5;

/// The stored recent-IP list after new sightings: most recent first, distinct,
/// at most [`MAX_RECENT_IPS`]. Generic so storage can merge the strings it keeps
/// as well as parsed addresses.
pub fn merge_recent_ips<T: PartialEq + Clone>(stored: &[T], new_most_recent_first: &[T]) -> Vec<T> {
    let mut merged: Vec<T> = Vec::with_capacity(MAX_RECENT_IPS);
    for ip in new_most_recent_first.iter().chain(stored) {
        if merged.len() == MAX_RECENT_IPS {
            break;
        }
        if !merged.contains(ip) {
            merged.push(ip.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_recent_ips_is_ordered_distinct_and_bounded() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(merge_recent_ips(&s(&["a", "b"]), &s(&["c", "a"])), s(&["c", "a", "b"]));
        assert_eq!(merge_recent_ips(&s(&["a", "b", "c", "d", "e"]), &s(&["f"])), s(&["f", "a", "b", "c", "d"]));
        assert_eq!(merge_recent_ips(&s(&[]), &s(&["a", "a", "b"])), s(&["a", "b"]));
        assert_eq!(merge_recent_ips(&s(&["x"]), &s(&[])), s(&["x"]));
        let many = s(&["1", "2", "3", "4", "5", "6", "7"]);
        assert_eq!(merge_recent_ips(&many, &many), s(&["1", "2", "3", "4", "5"]));
    }
}

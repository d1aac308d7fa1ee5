//! Globs with `*` and `?`, as quarantine patterns and trusted publishers' claim rules use them.

/// Whether `value` matches `glob` as a whole, case-sensitively: `*` is any
/// run of characters (`/` included), `?` exactly one; everything else is
/// itself (so `test_x[1]` matches only `test_x[1]`).
pub fn glob_matches(glob: &str, value: &str) -> bool {
    let (g, v): (Vec<char>, Vec<char>) = (glob.chars().collect(), value.chars().collect());
    // Iterative matching with one backtrack point: linear in practice,
    // never exponential, whatever the pattern.
    let (mut gi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == v[vi]) {
            gi += 1;
            vi += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = vi;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

//! Sign-off from the second person's own login (docs/signoff.md): who runs
//! this process as the OS says (its real user, or the user sudo ran it
//! for), and whether the allowed-signers file gives that user a role.
//!
//! May not depend on the store, the engine's rules, the front ends or `app`.

use super::AllowedSigners;

/// The OS user a command runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub uid: u32,
    /// How it was learnt: `None` for the process's own user, `Some("sudo")`
    /// for the user sudo ran runsheet for.
    pub via: Option<&'static str>,
}

/// The login this process runs for: the user sudo ran it for when sudo
/// started it as another user (the deployment of docs/custody.md, where
/// every operator runs runsheet as the log's owner), else its real user.
/// sudo's variables count only when the parent process is sudo running as
/// root: anyone can set them, but only sudo (or root) can be that parent.
pub fn this_login() -> Result<Login, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read this process's user id from /proc/self/status: {e}"))?;
    let uid = status_uid(&status, 0)
        .ok_or("cannot read this process's user id from /proc/self/status (no Uid line)")?;
    let user =
        whoami::username().map_err(|e| format!("the OS user with uid {uid} has no name ({e})"))?;
    let by_sudo = status_field(&status, "PPid:")
        .and_then(|ppid| std::fs::read_to_string(format!("/proc/{ppid}/status")).ok())
        .is_some_and(|parent| is_root_sudo(&parent));
    let var = |name| std::env::var(name).ok().filter(|_| by_sudo);
    Ok(login_of(
        uid,
        &user,
        var("SUDO_USER").as_deref(),
        var("SUDO_UID").as_deref(),
    ))
}

/// The value of `field` (e.g. `PPid:`) in a `/proc/<pid>/status` text.
fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(str::trim)
}

/// The `n`th user id of a `/proc/<pid>/status` text's `Uid:` line (0 real,
/// 1 effective).
fn status_uid(status: &str, n: usize) -> Option<u32> {
    status_field(status, "Uid:")?
        .split_whitespace()
        .nth(n)?
        .parse()
        .ok()
}

/// Is the process of this `/proc/<pid>/status` text sudo, running as root?
fn is_root_sudo(status: &str) -> bool {
    status_field(status, "Name:") == Some("sudo") && status_uid(status, 1) == Some(0)
}

/// The login of a process of user `user` (`uid`) given sudo's variables
/// (only when sudo started it): sudo's user when both are set, well formed,
/// and name another user.
fn login_of(uid: u32, user: &str, sudo_user: Option<&str>, sudo_uid: Option<&str>) -> Login {
    let sudo = sudo_user
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .zip(sudo_uid.and_then(|u| u.trim().parse::<u32>().ok()))
        .filter(|(_, id)| *id != uid);
    match sudo {
        Some((name, id)) => Login {
            user: name.to_string(),
            uid: id,
            via: Some("sudo"),
        },
        None => Login {
            user: user.to_string(),
            uid,
            via: None,
        },
    }
}

impl AllowedSigners {
    /// The allowed-signers file, when it gives OS user `user` on `host` the
    /// role signed for in `namespace`: `Ok(None)` when there is no file
    /// (nothing maps people to roles), an error when the file does not give
    /// them the role.
    pub fn role_for_login(
        &self,
        user: &str,
        host: &str,
        namespace: &str,
        purpose: &super::Purpose,
    ) -> Result<Option<String>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        if grants(&text, user, host, namespace) {
            Ok(Some(self.path.display().to_string()))
        } else {
            Err(format!(
                "{} gives {user} no line allowing namespace {namespace}: the role is not theirs to sign for; {}",
                self.path.display(),
                purpose.nothing
            ))
        }
    }
}

/// Does the allowed-signers `text` (git's format: principals, options, key
/// per line) have a line whose principals match `user` (or `user@host`)
/// and whose `namespaces` option, if any, matches `namespace`?
pub fn grants(text: &str, user: &str, host: &str, namespace: &str) -> bool {
    let full = format!("{user}@{host}");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(parse_line)
        .any(|(principals, namespaces)| {
            pattern_list(&principals, &[user, &full])
                && namespaces.is_none_or(|n| pattern_list(&n, &[namespace]))
        })
}

/// A line's principals field and its `namespaces` option (`None`: none).
fn parse_line(line: &str) -> Option<(String, Option<String>)> {
    let (principals, rest) = field(line)?;
    let rest = rest.trim_start();
    let (first, _) = field(rest)?;
    let is_key = |f: &str| f.starts_with("ssh-") || f.starts_with("ecdsa-") || f.starts_with("sk-");
    if is_key(&first) {
        return Some((principals, None));
    }
    let namespaces = split_outside_quotes(&first, ',').into_iter().find_map(|o| {
        let (name, value) = o.split_once('=')?;
        name.eq_ignore_ascii_case("namespaces")
            .then(|| value.trim_matches('"').to_string())
    });
    Some((principals, namespaces))
}

/// The first whitespace-delimited field of `s` (double quotes keep
/// whitespace in it; they are removed when they wrap the whole field), and
/// the rest.
fn field(s: &str) -> Option<(String, &str)> {
    let mut quoted = false;
    let end = s
        .char_indices()
        .find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            c.is_whitespace() && !quoted
        })
        .map_or(s.len(), |(i, _)| i);
    let f = &s[..end];
    if f.is_empty() {
        return None;
    }
    let f = f
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(f);
    Some((f.to_string(), &s[end..]))
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == sep && !quoted {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// OpenSSH's pattern-list match: comma-separated `*`/`?` patterns, a
/// pattern starting with `!` excludes; matches when some pattern matches
/// one of the names and no negated one matches any of them.
fn pattern_list(list: &str, names: &[&str]) -> bool {
    let mut matched = false;
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p.strip_prefix('!') {
            Some(neg) if names.iter().any(|n| wildcard(neg, n)) => return false,
            Some(_) => {}
            None => matched |= names.iter().any(|n| wildcard(p, n)),
        }
    }
    matched
}

/// `*` matches any run of characters, `?` any one.
fn wildcard(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# people and their roles
bob namespaces=\"runsheet-signoff@team-lead\" ssh-ed25519 AAAAC3Nza bob's key
carol@example.com,carol namespaces=\"runsheet-signoff@it-admin,runsheet-signoff@auditor\" ssh-ed25519 AAAA
\"dave,erin\" ssh-ed25519 AAAA any namespace
ops-* namespaces=\"runsheet-signoff@*\" ssh-ed25519 AAAA
*,!mallory namespaces=\"runsheet-signoff@guest\" ssh-ed25519 AAAA
";

    #[test]
    fn a_login_gets_only_the_roles_its_lines_name() {
        let g = |u: &str, ns: &str| grants(FILE, u, "host1", ns);
        assert!(g("bob", "runsheet-signoff@team-lead"));
        assert!(!g("bob", "runsheet-signoff@it-admin"));
        assert!(g("carol", "runsheet-signoff@auditor"));
        assert!(!g("carol", "runsheet-signoff@team-lead"));
        // No namespaces option: any namespace (as ssh-keygen reads it).
        assert!(g("dave", "runsheet-signoff@team-lead"));
        assert!(g("erin", "runsheet-signoff@x"));
        assert!(g("ops-jo", "runsheet-signoff@team-lead"));
        assert!(g("zed", "runsheet-signoff@guest"));
        assert!(!g("mallory", "runsheet-signoff@guest"));
        assert!(!g("zed", "runsheet-signoff@team-lead"));
        // A principal is not matched by its start or a mail address's user part.
        assert!(!g("bo", "runsheet-signoff@team-lead"));
        assert!(!g("bobby", "runsheet-signoff@team-lead"));
    }

    #[test]
    fn user_at_host_matches_a_principal_naming_the_host() {
        let file = "frank@db1 namespaces=\"runsheet-signoff@team-lead\" ssh-ed25519 AAAA\n";
        assert!(grants(file, "frank", "db1", "runsheet-signoff@team-lead"));
        assert!(!grants(file, "frank", "web1", "runsheet-signoff@team-lead"));
    }

    #[test]
    fn sudo_names_the_login_only_for_another_user() {
        let own = login_of(0, "root", None, None);
        assert_eq!((own.user.as_str(), own.uid, own.via), ("root", 0, None));
        let sudo = login_of(998, "runsheet-log", Some("bob"), Some("1001"));
        assert_eq!(
            (sudo.user.as_str(), sudo.uid, sudo.via),
            ("bob", 1001, Some("sudo"))
        );
        // sudo to oneself, a uid that is no number, an empty name: the process's user.
        for (u, id) in [("bob", "998"), ("bob", "x"), ("", "1001")] {
            let l = login_of(998, "runsheet-log", Some(u), Some(id));
            assert_eq!((l.user.as_str(), l.via), ("runsheet-log", None));
        }
    }

    #[test]
    fn the_real_uid_is_the_first_number_of_the_uid_line() {
        assert_eq!(status_uid("Name:\tx\nUid:\t1001\t0\t0\t0\n", 0), Some(1001));
        assert_eq!(status_uid("Name:\tx\n", 0), None);
    }

    #[test]
    fn only_sudo_running_as_root_is_sudo() {
        assert!(is_root_sudo("Name:\tsudo\nPPid:\t1\nUid:\t1000\t0\t0\t0\n"));
        // A program named sudo that is not privileged, or another root program.
        assert!(!is_root_sudo("Name:\tsudo\nUid:\t1000\t1000\t1000\t1000\n"));
        assert!(!is_root_sudo("Name:\tbash\nUid:\t0\t0\t0\t0\n"));
    }
}

//! Running a process with input on its stdin: all of it at once ([`Input`],
//! [`run_with_input`]), or a piece at a time while its output is read as it
//! comes ([`Live`]).

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`Live::wait_for`] waits before it fails the test.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Run `cmd` with `input` on its stdin; its stdout and stderr are collected.
/// Shorthand for `Input::new(input).run(cmd)`.
pub fn run_with_input(cmd: &mut Command, input: impl AsRef<[u8]>) -> Output {
    Input::new(input).run(cmd)
}

/// Input for a process's stdin, written all at once, and where its output goes.
pub struct Input {
    bytes: Vec<u8>,
    stdout: Option<Stdio>,
    may_exit_unread: bool,
}

impl Input {
    pub fn new(bytes: impl AsRef<[u8]>) -> Input {
        Input {
            bytes: bytes.as_ref().to_vec(),
            stdout: None,
            may_exit_unread: false,
        }
    }

    /// Send standard output to `to` (a pipe nobody reads, say) instead of
    /// collecting it; the [`Output`]'s stdout is then empty.
    pub fn stdout(mut self, to: Stdio) -> Input {
        self.stdout = Some(to);
        self
    }

    /// The process may exit before it reads its input (it refuses at once):
    /// a closed pipe is then no error. Without this, a failed write fails the test.
    pub fn may_exit_unread(mut self) -> Input {
        self.may_exit_unread = true;
        self
    }

    /// Spawn `cmd`, write the input on a thread (so a long script and a long
    /// output cannot block each other), close stdin and wait for the exit.
    pub fn run(self, cmd: &mut Command) -> Output {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(self.stdout.unwrap_or_else(Stdio::piped))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        let mut stdin = child.stdin.take().expect("a piped stdin");
        let bytes = self.bytes;
        let writer = std::thread::spawn(move || stdin.write_all(&bytes));
        let out = child.wait_with_output().expect("wait for the process");
        let written = writer.join().expect("the input writer");
        if !self.may_exit_unread {
            written.unwrap_or_else(|e| panic!("writing the input: {e}"));
        }
        out
    }
}

/// What the reader threads have seen of a [`Live`] process's output.
#[derive(Default)]
struct Seen {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Standard output has reached its end (the process closed it or died).
    ended: bool,
}

type Shared = Arc<(Mutex<Seen>, Condvar)>;

/// A process sent input a piece at a time, its output read as it comes.
pub struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    seen: Shared,
    readers: Vec<JoinHandle<()>>,
}

impl Live {
    /// Spawn `cmd` with piped stdin, stdout and stderr; both outputs are read
    /// on threads from the start.
    pub fn spawn(cmd: &mut Command) -> Live {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        let seen: Shared = Arc::default();
        let stdout = child.stdout.take().expect("a piped stdout");
        let stderr = child.stderr.take().expect("a piped stderr");
        let readers = vec![
            read_into(stdout, Arc::clone(&seen), |s| &mut s.stdout, true),
            read_into(stderr, Arc::clone(&seen), |s| &mut s.stderr, false),
        ];
        Live {
            stdin: child.stdin.take(),
            child,
            seen,
            readers,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Write `input` to the process's stdin and flush it.
    pub fn send(&mut self, input: impl AsRef<[u8]>) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        stdin.write_all(input.as_ref()).unwrap();
        stdin.flush().unwrap();
    }

    /// Standard output so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.0.lock().unwrap().stdout).into_owned()
    }

    /// Wait until standard output so far satisfies `done` (checked each time
    /// more arrives), the output ends, or `timeout` passes; whether `done` held.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, more) = &*self.seen;
        let mut seen = lock.lock().unwrap();
        loop {
            if done(&String::from_utf8_lossy(&seen.stdout)) {
                return true;
            }
            let now = Instant::now();
            if seen.ended || now >= deadline {
                return false;
            }
            seen = more.wait_timeout(seen, deadline - now).unwrap().0;
        }
    }

    /// Wait until `what` appears `n` times in standard output; fails the test
    /// after [`LIVE_TIMEOUT`] or when the output ends first.
    pub fn wait_for(&self, what: &str, n: usize) {
        let found = self.wait_until(LIVE_TIMEOUT, |text| text.matches(what).count() >= n);
        assert!(
            found,
            "timed out waiting for {n}× {what:?}:\n{}",
            self.text()
        );
    }

    /// Kill the process (SIGKILL) and wait for it; everything it wrote to
    /// standard output before it died.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.collect().0
    }

    /// Close stdin and wait for the exit: (exit code, all of stdout, all of stderr).
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        let (out, err) = self.collect();
        (status.code(), out, err)
    }

    /// Once the process has exited: join the readers; (stdout, stderr).
    fn collect(&mut self) -> (String, String) {
        drop(self.stdin.take());
        for r in std::mem::take(&mut self.readers) {
            r.join().expect("an output reader");
        }
        let seen = self.seen.0.lock().unwrap();
        (
            String::from_utf8_lossy(&seen.stdout).into_owned(),
            String::from_utf8_lossy(&seen.stderr).into_owned(),
        )
    }
}

impl Drop for Live {
    /// A test that fails half way leaves no process behind (a no-op once it has exited).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read `pipe` to its end on a thread, appending to the buffer `field` picks
/// and waking waiters; `marks_end` sets [`Seen::ended`] at the end.
fn read_into(
    mut pipe: impl Read + Send + 'static,
    seen: Shared,
    field: fn(&mut Seen) -> &mut Vec<u8>,
    marks_end: bool,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = pipe.read(&mut buf).unwrap_or(0);
            let (lock, more) = &*seen;
            let mut s = lock.lock().unwrap();
            if n == 0 {
                s.ended |= marks_end;
                more.notify_all();
                return;
            }
            field(&mut s).extend_from_slice(&buf[..n]);
            more.notify_all();
        }
    })
}

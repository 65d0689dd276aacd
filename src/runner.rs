//! Running a step's shell command: a child process whose combined output is
//! streamed to the caller, capped for the evidence log, and hashed in full.
//! A running command dies with runsheet on every exit path, `kill -9`
//! included: the shell gets the kernel's parent-death signal, and a guard
//! process kills the command's whole process group when runsheet's end of
//! a pipe closes (which the kernel does however runsheet ends).
//!
//! May not depend on the store or the front ends. Uses only std process IO.

use std::io::{PipeWriter, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::engine::CommandResult;

/// Output kept in the evidence log per command run; the rest is hashed and counted.
pub const OUTPUT_CAP: usize = 1024 * 1024;

/// A command that is running.
pub struct RunningCommand {
    command: String,
    child: Child,
    rx: Receiver<Vec<u8>>,
    readers_left: usize,
    started: Instant,
    kept: Vec<u8>,
    hasher: Sha256,
    total: u64,
    stopped_by_operator: bool,
    exited_at: Option<Instant>,
    /// The guard (see the module doc) and runsheet's end of its pipe.
    guard: Option<(Child, PipeWriter)>,
}

/// How long output may keep arriving after the command exited (a background
/// child may hold the pipe open; its later output is not waited for).
const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// What `poll` saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// Output that arrived since the last poll (may be empty).
    Running(Vec<u8>),
    /// The process ended and all output has been read.
    Finished(Vec<u8>),
}

impl RunningCommand {
    /// Start `sh -c command` with stdin closed and stdout+stderr captured
    /// through one pipe, so the output is kept in the order the command
    /// wrote it (as a terminal shows it), not as two readers happen to run.
    pub fn spawn(command: &str) -> std::io::Result<RunningCommand> {
        let (output, writer) = std::io::pipe()?;
        let mut child = Command::new("sh");
        child
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            // Its own process group, so stopping it stops what it started too.
            .process_group(0);
        // The kernel kills the shell when the thread that spawned it ends
        // (so spawn from the thread that lives as long as the run: the main
        // one). SAFETY: between fork and exec the closure makes one
        // async-signal-safe system call (prctl) and allocates nothing.
        #[cfg(target_os = "linux")]
        #[allow(unsafe_code)]
        unsafe {
            child.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))
                .map_err(std::io::Error::from)
            });
        }
        let spawned = child.spawn();
        // runsheet's copies of the pipe's writing end go with the builder, so
        // the reader sees the end of the output when the command's copies close.
        drop(child);
        let child = spawned?;
        let guard = spawn_guard(child.id()).ok();
        let (tx, rx) = mpsc::channel();
        spawn_reader(output, tx);
        let readers = 1;
        Ok(RunningCommand {
            command: command.to_string(),
            child,
            rx,
            readers_left: readers,
            started: Instant::now(),
            kept: Vec::new(),
            hasher: Sha256::new(),
            total: 0,
            stopped_by_operator: false,
            exited_at: None,
            guard,
        })
    }

    /// Collect output that has arrived; says whether the command has finished.
    pub fn poll(&mut self) -> Poll {
        let mut chunk = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(bytes) if bytes.is_empty() => self.readers_left -= 1,
                Ok(bytes) => {
                    self.take(&bytes);
                    chunk.extend_from_slice(&bytes);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.readers_left = 0;
                    break;
                }
            }
        }
        if self.exited_at.is_none() && matches!(self.child.try_wait(), Ok(Some(_))) {
            self.exited_at = Some(Instant::now());
        }
        let drained =
            self.readers_left == 0 || self.exited_at.is_some_and(|t| t.elapsed() > DRAIN_GRACE);
        if self.exited_at.is_some() && drained {
            Poll::Finished(chunk)
        } else {
            Poll::Running(chunk)
        }
    }

    /// Block until the command finishes, passing output to `on_output` as it arrives.
    pub fn wait_streaming(mut self, mut on_output: impl FnMut(&[u8])) -> CommandResult {
        loop {
            match self.poll() {
                Poll::Running(c) => {
                    on_output(&c);
                    thread::sleep(Duration::from_millis(20));
                }
                Poll::Finished(c) => {
                    on_output(&c);
                    return self.finish();
                }
            }
        }
    }

    /// Stop the command (the operator pressed Ctrl-C in the output pane).
    pub fn stop(&mut self) {
        self.stopped_by_operator = true;
        if let Some(pgid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
    }

    /// Seconds since the command started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The evidence for a finished (or stopped) command.
    pub fn finish(mut self) -> CommandResult {
        let status = self.child.wait().ok();
        // The command ended: what it left running in the background is its
        // own business now, so the guard goes first, quietly.
        if let Some((mut guard, pipe)) = self.guard.take() {
            let _ = guard.kill();
            let _ = guard.wait();
            drop(pipe);
        }
        // Drain anything left after the exit.
        while let Ok(bytes) = self.rx.recv_timeout(DRAIN_GRACE) {
            if bytes.is_empty() {
                self.readers_left = self.readers_left.saturating_sub(1);
                if self.readers_left == 0 {
                    break;
                }
            } else {
                self.take(&bytes);
            }
        }
        let exit_code = if self.stopped_by_operator {
            None
        } else {
            status.and_then(|s| s.code())
        };
        let truncated = self.total > self.kept.len() as u64;
        CommandResult {
            command: std::mem::take(&mut self.command),
            exit_code,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            output: String::from_utf8_lossy(&self.kept).into_owned(),
            output_sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
            output_bytes: self.total,
            truncated,
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.total += bytes.len() as u64;
        let room = OUTPUT_CAP.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl Drop for RunningCommand {
    /// A command dropped before it finished (an early return, a panic) is
    /// killed with its process group: closing the guard's pipe does it.
    fn drop(&mut self) {
        if let Some((mut guard, pipe)) = self.guard.take() {
            drop(pipe);
            let _ = guard.wait();
            let _ = self.child.wait();
        }
    }
}

/// The guard of the command whose process group is `pgid`: a shell in a
/// process group of its own that waits for the end of its standard input
/// (a pipe only runsheet writes to) and then kills the group.
fn spawn_guard(pgid: u32) -> std::io::Result<(Child, PipeWriter)> {
    let (reader, writer) = std::io::pipe()?;
    let guard = Command::new("sh")
        .arg("-c")
        .arg(format!("read _ignored; kill -9 -{pgid} 2>/dev/null"))
        .stdin(reader)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok((guard, writer))
}

/// Read a pipe to its end, sending chunks; an empty chunk means "done".
fn spawn_reader(mut pipe: impl Read + Send + 'static, tx: mpsc::Sender<Vec<u8>>) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Vec::new());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_output_and_error_are_kept_in_the_order_written() {
        for _ in 0..20 {
            let r = RunningCommand::spawn("echo A; echo B >&2; echo C; echo D >&2")
                .unwrap()
                .finish();
            assert_eq!(r.output, "A\nB\nC\nD\n");
        }
    }

    #[test]
    fn captures_output_exit_code_and_hash() {
        let cmd = RunningCommand::spawn("echo hello; echo oops >&2; exit 3").unwrap();
        let mut seen = Vec::new();
        let r = cmd.wait_streaming(|c| seen.extend_from_slice(c));
        assert_eq!(r.exit_code, Some(3));
        assert!(r.output.contains("hello") && r.output.contains("oops"));
        assert_eq!(r.output_bytes, 11);
        assert_eq!(String::from_utf8_lossy(&seen).len(), 11);
        assert!(!r.truncated);
        assert_eq!(r.output_sha256.len(), 64);
    }

    #[test]
    fn caps_large_output_but_hashes_all_of_it() {
        let cmd = RunningCommand::spawn("head -c 1500000 /dev/zero").unwrap();
        let r = cmd.wait_streaming(|_| {});
        assert_eq!(r.output_bytes, 1_500_000);
        assert!(r.truncated);
        assert_eq!(r.output.len(), OUTPUT_CAP);
        let full = Sha256::digest(vec![0u8; 1_500_000]);
        assert_eq!(r.output_sha256, hex::encode(full));
    }

    #[test]
    fn a_background_child_holding_the_pipe_does_not_hang_the_step() {
        let cmd = RunningCommand::spawn("echo started; (sleep 30 &) ; exit 0").unwrap();
        let t = Instant::now();
        let r = cmd.wait_streaming(|_| {});
        assert_eq!(r.exit_code, Some(0));
        assert!(r.output.contains("started"));
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn stopping_kills_the_whole_process_group() {
        let mut cmd = RunningCommand::spawn("sleep 30 & sleep 30; wait").unwrap();
        thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        cmd.stop();
        let r = cmd.finish();
        assert_eq!(r.exit_code, None);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "stop waited for the children"
        );
    }

    #[test]
    fn a_dropped_command_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bg.pid");
        let cmd = RunningCommand::spawn(&format!("sleep 300 & echo $! > {}; wait", file.display()))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let pid: u32 = loop {
            if let Some(pid) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the command did not start");
            thread::sleep(Duration::from_millis(10));
        };
        // Gone, or a zombie nobody reaped (the stat's state after the name).
        let ended = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
        };
        assert!(!ended());
        drop(cmd);
        while !ended() {
            assert!(
                Instant::now() < deadline,
                "the background child outlived its command"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_stopped_command_has_no_exit_code() {
        let mut cmd = RunningCommand::spawn("sleep 30").unwrap();
        cmd.stop();
        let r = cmd.finish();
        assert_eq!(r.exit_code, None);
        assert!(r.duration_ms < 30_000);
    }
}

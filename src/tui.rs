//! The full-screen runner (The Elm Architecture): UI state in [`app::App`], a pure
//! `view`, and an `update` that turns keys into keymap intents and intents into
//! engine commands through the [`Session`] (decide, persist, then apply).
//!
//! May not depend on the store, the exports or the plain front end, and holds no
//! procedure rules: the engine decides and the screen shows its answers. Uses the
//! terminal only through `ratatui` (and `ratatui::crossterm`).

mod app;
mod view;

#[cfg(test)]
mod injection_tests;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::engine::Outcome;
use crate::error::Error;
use crate::session::Session;

use app::{App, Flow, Input};

/// How often the screen refreshes while idle (elapsed time, command output).
const TICK: Duration = Duration::from_millis(100);

/// Options the CLI passes to the runner.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// Use colours (false with `NO_COLOR` or `--no-color`). Meaning never depends on colour alone.
    pub color: bool,
    /// A one-line notice shown under the header, e.g.
    /// "resumed; the procedure file changed since this run started".
    pub notice: Option<String>,
    /// When the run started (its first event), for the elapsed time; default: now.
    pub started_at: Option<DateTime<Utc>>,
}

/// How the runner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TuiExit {
    /// The run ended with this outcome (the operator saw the completion screen).
    Ended(Outcome),
    /// The run was suspended (or the runner was stopped) and can be resumed.
    Suspended,
}

/// Run the full-screen runner on the real terminal until the run ends or is suspended.
///
/// A suspended run is resumed first (recording `resumed`). The terminal is restored
/// on every exit path, panics included; SIGTERM and SIGHUP suspend the run and exit.
pub fn run(session: &mut Session, opts: &TuiOptions) -> Result<TuiExit, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = Vec::new();
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        let id = signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Error::Internal(format!("cannot handle signal {sig}: {e}")))?;
        signals.push(id);
    }
    let result = (|| {
        let mut terminal = ratatui::try_init().map_err(|e| {
            Error::Input(format!(
                "cannot start the full-screen runner: {e}; use --plain on a pipe, serial console or screen reader"
            ))
        })?;
        let _restore = RestoreGuard;
        run_loop(
            &mut terminal,
            session,
            opts,
            &mut CrosstermEvents::start(),
            &stop,
        )
    })();
    for id in signals {
        signal_hook::low_level::unregister(id);
    }
    result
}

/// Draw the runner's first screen for `session` into `terminal` (any backend,
/// e.g. `TestBackend`) and return; nothing else happens. For benchmarks and
/// tests of what the operator sees first. A suspended run is resumed, as in [`run`].
pub fn first_frame<B: Backend>(
    terminal: &mut Terminal<B>,
    session: &mut Session,
    opts: &TuiOptions,
) -> Result<(), Error> {
    let size = terminal.size().map_err(|e| Error::Io {
        path: "terminal".into(),
        message: format!("cannot read the terminal size: {e}"),
    })?;
    let app = App::new(session, opts, (size.width, size.height));
    terminal
        .draw(|f| view::view(f, &app, session.run()))
        .map(|_| ())
        .map_err(|e| Error::Io {
            path: "terminal".into(),
            message: format!("cannot draw: {e}"),
        })
}

/// Restores the terminal when dropped (early returns; panics are covered by `ratatui::init`'s hook).
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Where terminal events come from (the real terminal, or a script in tests).
trait EventSource {
    /// Wait up to `timeout` for an event.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>>;
}

/// Terminal events read on their own thread. crossterm can spin inside `poll` once
/// the terminal has hung up, so the loop must never block in it: it would miss
/// the SIGHUP/SIGTERM flag and never suspend the run.
struct CrosstermEvents {
    rx: mpsc::Receiver<io::Result<Event>>,
    done: Arc<AtomicBool>,
}

impl CrosstermEvents {
    fn start() -> CrosstermEvents {
        let (tx, rx) = mpsc::channel();
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match event::poll(TICK) {
                    Ok(true) => {
                        let event = event::read();
                        let failed = event.is_err();
                        if tx.send(event).is_err() || failed {
                            return;
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        CrosstermEvents { rx, done }
    }
}

impl Drop for CrosstermEvents {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

impl EventSource for CrosstermEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        match self.rx.recv_timeout(timeout) {
            Ok(event) => event.map(Some),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(io::Error::other("the terminal's input ended"))
            }
        }
    }
}

/// The main loop, generic over the backend so tests can run the whole app in a `TestBackend`.
fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    session: &mut Session,
    opts: &TuiOptions,
    events: &mut impl EventSource,
    stop: &AtomicBool,
) -> Result<TuiExit, Error> {
    let size = terminal.size().map_err(|e| Error::Io {
        path: "terminal".into(),
        message: format!("cannot read the terminal size: {e}"),
    })?;
    let mut app = App::new(session, opts, (size.width, size.height));
    let mut last_tick = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(app.terminate(session));
        }
        if let Err(e) = terminal.draw(|f| view::view(f, &app, session.run())) {
            return failed(&mut app, session, stop, e);
        }
        let input = match events.next(TICK.saturating_sub(last_tick.elapsed())) {
            Ok(Some(Event::Key(k))) if k.kind != KeyEventKind::Release => Some(Input::Key(k)),
            Ok(Some(Event::Resize(w, h))) => Some(Input::Resize(w, h)),
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => return failed(&mut app, session, stop, e),
        };
        if let Some(input) = input
            && let Flow::Exit(exit) = app::update(&mut app, session, input)
        {
            return Ok(exit);
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            if let Flow::Exit(exit) = app::update(&mut app, session, Input::Tick) {
                return Ok(exit);
            }
        }
    }
}

/// The terminal failed: suspend the run. After a hang-up or kill signal that is the
/// expected way out; otherwise the error is reported.
fn failed(
    app: &mut App,
    session: &mut Session,
    stop: &AtomicBool,
    e: impl std::fmt::Display,
) -> Result<TuiExit, Error> {
    let exit = app.terminate(session);
    if stop.load(Ordering::SeqCst) {
        return Ok(exit);
    }
    Err(Error::Io {
        path: "terminal".into(),
        message: format!("{e}; the run was suspended, `runsheet resume` continues it"),
    })
}

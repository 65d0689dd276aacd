//! `runsheet feed --out FILE`: append every event since the feed's position
//! to FILE as OCSF JSON lines (`crate::feed`), fsync, then advance the
//! position kept in the log (docs/siem-feed.md). Exactly once across
//! crashes: the position used is the larger of the stored one and the seq of
//! the file's last complete line; a torn last line is cut off and reported.
//! Two feeds of one file take turns on an exclusive lock of the file.
//!
//! May not depend on the front ends or the engine.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::Context;
use crate::cli;
use crate::error::{Error, Exit, Result};
use crate::store::RunRow;

/// How much of the file's end is read to find its last complete line.
const TAIL: u64 = 1 << 20;

/// The file's last complete line's seq, and the length up to the end of
/// that line (a torn line after it is not counted).
fn last_line(file: &mut std::fs::File, path: &Path) -> Result<(Option<i64>, u64)> {
    let len = file.metadata().map_err(|e| Error::io(path, &e))?.len();
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(path, &e))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)
        .map_err(|e| Error::io(path, &e))?;
    let Some(end) = tail.iter().rposition(|b| *b == b'\n') else {
        return Ok((None, start));
    };
    let complete = start + end as u64 + 1;
    let before = tail[..end]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let seq = crate::feed::seq_of(&tail[before..end]).ok_or_else(|| Error::Input(format!(
        "{}: its last complete line (ending at byte {complete}) is not a runsheet feed line (no metadata.sequence); is this the right file? Feed into a new file or restore this one",
        path.display()
    )))?;
    Ok((Some(seq), complete))
}

/// The file's device and inode (`dev:inode`): which file, not which path.
fn file_identity(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        String::new()
    }
}

pub(super) fn feed_cmd(ctx: &Context, a: cli::FeedArgs) -> Result<Exit> {
    let db = ctx.db_path()?;
    // The log first: a log that cannot be used leaves no feed file behind.
    let mut store = ctx
        .store_options()
        .actor(&ctx.recorded_actor())
        .open_existing(&db)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&a.out).map_err(|e| Error::io(&a.out, &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::Input(format!(
                "{}: another runsheet feed is writing this file now; nothing was written. Try again when it has finished",
                a.out.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&a.out, &e)),
    }
    let key = std::fs::canonicalize(&a.out)
        .map_err(|e| Error::io(&a.out, &e))?
        .display()
        .to_string();
    let held = store.feed_position(&key)?.unwrap_or_default();
    let stored = held.seq;
    let meta = file.metadata().map_err(|e| Error::io(&a.out, &e))?;
    let len = meta.len();
    let file_id = file_identity(&meta);
    let (file_seq, complete) = last_line(&mut file, &a.out)?;
    let position = match file_seq {
        Some(seq) if seq >= stored => seq,
        _ if stored == 0 || a.rotated => stored,
        // The empty file a `--rotated` feed took up (with nothing new then).
        None if held.accepted_file.as_deref() == Some(file_id.as_str()) => stored,
        found => {
            return Err(Error::Input(format!(
                "{}: the file ends at seq {} but the log says event {stored} was fed into it: the file was truncated, rotated or replaced. Nothing was written. If it was rotated on purpose (logrotate, with create or copytruncate), pass --rotated to continue after seq {stored}; otherwise feed into a new file",
                a.out.display(),
                found.map_or("none (it is empty)".to_string(), |s| s.to_string()),
            )));
        }
    };
    if complete < len {
        file.set_len(complete).map_err(|e| Error::io(&a.out, &e))?;
        file.sync_data().map_err(|e| Error::io(&a.out, &e))?;
        crate::errln!(
            "runsheet: {}: cut off a torn last line ({} bytes after byte {complete}), left by an interrupted feed; the events after the last complete line are appended",
            a.out.display(),
            len - complete
        );
    }
    let origin = store.log_key()?.map(|k| k.origin).unwrap_or_default();
    let mut out = std::io::BufWriter::new(&file);
    let mut run: Option<RunRow> = None;
    let (mut count, mut last) = (0u64, position);
    let mut last_hash = String::new();
    let mut failed: Option<Error> = None;
    store
        .for_each_event(position + 1, |event| {
            if let Some(id) = event.run_id
                && run.as_ref().is_none_or(|r| r.id != id)
            {
                run = store.run(id)?;
            }
            let value = crate::feed::line(
                &origin,
                &event,
                run.as_ref().filter(|_| event.run_id.is_some()),
            );
            let mut text = value.to_string();
            text.push('\n');
            if let Err(e) = out.write_all(text.as_bytes()) {
                failed = Some(Error::io(&a.out, &e));
                return Err(crate::store::StoreError::Io {
                    path: a.out.clone(),
                    message: e.to_string(),
                });
            }
            count += 1;
            last = event.seq;
            last_hash.clone_from(&event.hash);
            Ok(())
        })
        .map_err(|e| failed.take().unwrap_or_else(|| e.into()))?;
    out.flush().map_err(|e| Error::io(&a.out, &e))?;
    drop(out);
    file.sync_data().map_err(|e| Error::io(&a.out, &e))?;
    // A rotated file taken up with nothing to append: remember which file, so
    // the next plain feed takes it up too instead of refusing it as truncated.
    let accept =
        (count == 0 && file_seq.is_none() && stored > 0 && a.rotated).then(|| file_id.clone());
    if last != stored || accept.is_some() {
        if last_hash.is_empty() && accept.is_some() {
            last_hash.clone_from(&held.record_hash);
        }
        if last_hash.is_empty() {
            last_hash = store.record_hash_at(last)?.unwrap_or_default();
        }
        let at = chrono::Utc::now();
        store.set_feed_position(
            &key,
            &crate::store::FeedPosition {
                seq: last,
                record_hash: last_hash,
                accepted_file: accept,
            },
            at,
        )?;
    }
    crate::errln!(
        "Appended {count} events to {} (position: seq {last})",
        a.out.display()
    );
    Ok(Exit::Success)
}

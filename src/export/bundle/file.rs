//! One bundle file being written: the caller formats into a memory buffer,
//! and a writer thread of the file's own hashes each full buffer (SHA-256),
//! writes it and, at the end, syncs the file to disk. Formatting, hashing and
//! the disk then overlap, and memory stays at a few buffers per file.
//! Also the spool: a scratch file in the bundle's temporary directory for a
//! part of a report that is written before its place in the file is reached.
//!
//! May not depend on the store, the front ends or the app.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::super::manifest::FileEntry;
use crate::error::Error;

/// Size of one buffer handed to the writer thread.
const CHUNK: usize = 256 * 1024;
/// Buffers waiting for the writer thread before the formatting side waits.
const QUEUE: usize = 8;
/// Bytes written between syncs of the data so far (on a helper thread), so
/// the disk works while the export formats and the sync at the end finds
/// little left to write. Measured: 4–8 MB gave the shortest exports at 900k
/// events; syncing only at the end left ~2 s of writing after the formatting.
const SYNC_EVERY: u64 = 8 * 1024 * 1024;

fn io_err(path: &Path, e: &io::Error) -> Error {
    Error::io(path, e)
}

/// What the writer thread returns: the hash and size of what it wrote.
type Written = io::Result<(String, u64)>;

/// A bundle file: create, write, [`BundleFile::finish`].
pub struct BundleFile {
    rel: String,
    path: PathBuf,
    buf: Vec<u8>,
    to_writer: Option<SyncSender<Vec<u8>>>,
    spare: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<Written>>,
}

impl BundleFile {
    /// Create `rel` (with `/` separators) under `dir`; it must not exist.
    pub fn create(dir: &Path, rel: &str) -> Result<BundleFile, Error> {
        let path = dir.join(rel);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, &e))?;
        let (to_writer, chunks) = sync_channel::<Vec<u8>>(QUEUE);
        let (give_back, spare) = sync_channel::<Vec<u8>>(QUEUE + 2);
        let writer = std::thread::Builder::new()
            .name(format!("write {rel}"))
            .spawn(move || write_chunks(file, &chunks, &give_back))
            .map_err(|e| io_err(&path, &e))?;
        Ok(BundleFile {
            rel: rel.to_string(),
            path,
            buf: Vec::with_capacity(CHUNK),
            to_writer: Some(to_writer),
            spare,
            writer: Some(writer),
        })
    }

    /// The file's path (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A writer error as the user sees it.
    pub fn err(&self, e: &io::Error) -> Error {
        io_err(&self.path, e)
    }

    /// Hand the full buffer to the writer thread.
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self.to_writer.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer thread stopped: its error is reported by `finish`.
            _ => Err(self.stopped()),
        }
    }

    /// Join the writer thread after it stopped early, for its error.
    fn stopped(&mut self) -> io::Error {
        self.to_writer = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("the file's writer thread stopped"),
        }
    }

    /// Write what is buffered, wait for the writer thread to sync the file to
    /// disk, and return the manifest entry.
    pub fn finish(mut self) -> Result<FileEntry, Error> {
        self.send().map_err(|e| self.err(&e))?;
        self.to_writer = None; // the writer thread ends when the queue is empty
        let joined = self.writer.take().map(JoinHandle::join);
        let (sha256, bytes) = match joined {
            Some(Ok(written)) => written.map_err(|e| self.err(&e))?,
            _ => {
                return Err(self.err(&io::Error::other("the file's writer thread stopped")));
            }
        };
        Ok(FileEntry {
            path: self.rel.clone(),
            sha256,
            bytes,
        })
    }
}

impl Write for BundleFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if data.len() <= CHUNK - self.buf.len() {
            self.buf.extend_from_slice(data);
            return Ok(());
        }
        self.write_spilling(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BundleFile {
    /// Fill the buffer, hand it over, go on.
    fn write_spilling(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = CHUNK.saturating_sub(self.buf.len());
            if room == 0 {
                self.send()?;
                continue;
            }
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }
}

impl Drop for BundleFile {
    fn drop(&mut self) {
        // An abandoned file (an export that failed): stop the writer thread.
        self.to_writer = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// The writer thread: hash, write, hint the kernel now and then, sync at the end.
fn write_chunks(
    mut file: File,
    chunks: &Receiver<Vec<u8>>,
    give_back: &SyncSender<Vec<u8>>,
) -> Written {
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut unsynced = 0u64;
    let syncer = file.try_clone().ok().map(Syncer::start);
    for mut chunk in chunks {
        hasher.update(&chunk);
        file.write_all(&chunk)?;
        let n = chunk.len() as u64;
        bytes += n;
        unsynced += n;
        if unsynced >= SYNC_EVERY {
            if let Some(s) = &syncer {
                s.nudge();
            }
            unsynced = 0;
        }
        chunk.clear();
        let _ = give_back.try_send(chunk);
    }
    if let Some(s) = syncer {
        s.stop();
    }
    file.sync_all()?;
    Ok((hex::encode(hasher.finalize()), bytes))
}

/// A helper thread that syncs the file's data when nudged, so the disk works
/// while the writer thread keeps writing (a sync in the writer thread would
/// stall it and, through the queue, the formatting).
struct Syncer {
    nudge: SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Syncer {
    fn start(file: File) -> Syncer {
        let (nudge, nudges) = sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            for () in nudges {
                // Best effort: the final sync_all reports any error.
                let _ = file.sync_data();
            }
        });
        Syncer { nudge, thread }
    }

    fn nudge(&self) {
        // A sync already queued covers this data too.
        let _ = self.nudge.try_send(());
    }

    fn stop(self) {
        drop(self.nudge);
        let _ = self.thread.join();
    }
}

/// A scratch file in the bundle's temporary directory: written now, copied
/// into a bundle file later, then removed.
pub struct Spool {
    path: PathBuf,
    w: BufWriter<File>,
}

impl Spool {
    /// Create `name` in `dir`; it must not exist.
    pub fn create(dir: &Path, name: &str) -> Result<Spool, Error> {
        let path = dir.join(name);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, &e))?;
        Ok(Spool {
            path,
            w: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    /// A writer error as the user sees it.
    pub fn err(&self, e: &io::Error) -> Error {
        io_err(&self.path, e)
    }

    /// Copy everything written into `dst`, then remove the scratch file.
    pub fn copy_into(self, dst: &mut BundleFile) -> Result<(), Error> {
        let Spool { path, w } = self;
        let mut file = w.into_inner().map_err(|e| io_err(&path, e.error()))?;
        file.rewind().map_err(|e| io_err(&path, &e))?;
        io::copy(&mut file, dst).map_err(|e| dst.err(&e))?;
        drop(file);
        fs::remove_file(&path).map_err(|e| io_err(&path, &e))
    }
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.w.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_file_hashes_and_counts_what_it_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut f = BundleFile::create(dir.path(), "a.txt").expect("create");
        let big = vec![b'x'; CHUNK * 3 + 17];
        f.write_all(b"hello ").expect("write");
        f.write_all(&big).expect("write");
        let entry = f.finish().expect("finish");
        let on_disk = fs::read(dir.path().join("a.txt")).expect("read");
        assert_eq!(on_disk.len() as u64, entry.bytes);
        assert_eq!(entry.bytes, 6 + big.len() as u64);
        assert_eq!(entry.sha256, crate::store::sha256_hex(&on_disk));
        assert_eq!(entry.path, "a.txt");
    }

    #[test]
    fn a_spool_is_copied_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::create(dir.path(), ".part").expect("spool");
        s.write_all(b"middle").expect("write");
        let mut f = BundleFile::create(dir.path(), "b.txt").expect("create");
        f.write_all(b"<").expect("write");
        s.copy_into(&mut f).expect("copy");
        f.write_all(b">").expect("write");
        f.finish().expect("finish");
        assert_eq!(
            fs::read_to_string(dir.path().join("b.txt")).expect("read"),
            "<middle>"
        );
        assert!(!dir.path().join(".part").exists());
    }
}

//! `irqkit top` under a pseudo-terminal: it draws, refreshes, and exits on `q`.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Opens a pty pair sized 120x40; returns (master, slave).
fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two fds we then own; the other pointers are valid or null.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty");
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
}

#[test]
fn top_draws_refreshes_and_quits_on_q() {
    let (master, slave) = openpty();
    let mut child = Command::new(env!("CARGO_BIN_EXE_irqkit"))
        .arg("top")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut m = std::fs::File::from(master);
    // Read the screen in a helper thread; the main thread watches for two frames.
    let mut reader = m.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut screen = Vec::new();
    // ratatui redraws only what changed and hides the cursor at the end of every frame.
    let frames = |s: &[u8]| String::from_utf8_lossy(s).matches("\x1b[?25l").count();
    while frames(&screen) < 2 {
        assert!(Instant::now() < deadline, "no two frames in {} bytes", screen.len());
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            screen.extend(chunk);
        }
    }
    let text = String::from_utf8_lossy(&screen);
    assert!(text.contains("irqkit") && text.contains("softirqs") && text.contains("LOC"));
    m.write_all(b"q").unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "top exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "top did not quit on q");
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! QEMU monitor events through libvirt: counting the events of one name that a domain's QEMU
//! emits (a COLO primary emits `MIGRATION_PASS` at every checkpoint).
//!
//! The `virt` crate has no safe wrapper for `virConnectDomainQemuMonitorEventRegister`
//! (`libvirt-qemu.h`), so this module calls it through `virt::sys`. It is the one module of the
//! project allowed unsafe code (a tidy test keeps it so); every unsafe block says why it holds.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_void, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

/// Starts libvirt's default event loop on a thread of its own, once per process. libvirt only
/// delivers events on connections opened after the loop is registered, so every connection
/// is opened after this ([`super::host::Host::open`] calls it first).
pub fn start_loop() {
    static LOOP: Once = Once::new();
    LOOP.call_once(|| {
        if virt::event::event_register_default_impl().is_err() {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("libvirt-events".to_owned())
            .spawn(|| loop {
                if virt::event::event_run_default_impl().is_err() {
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
    });
}

/// Counts one event of one domain from creation until dropped.
pub struct Counter<'a> {
    conn: sys::virConnectPtr,
    id: c_int,
    count: Arc<AtomicU64>,
    _conn: PhantomData<&'a Connect>,
}

unsafe extern "C" fn on_event(
    _conn: sys::virConnectPtr,
    _dom: sys::virDomainPtr,
    _event: *const c_char,
    _seconds: c_longlong,
    _micros: c_uint,
    _details: *const c_char,
    opaque: *mut c_void,
) {
    // SAFETY: `opaque` is the `Arc<AtomicU64>` handed over at registration; libvirt keeps it
    // until it calls `free_count`, after the last event.
    let count = unsafe { &*(opaque as *const AtomicU64) };
    count.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn free_count(opaque: *mut c_void) {
    // SAFETY: called once by libvirt when the callback is deregistered, with the pointer made
    // by `Arc::into_raw` in `Counter::new`.
    drop(unsafe { Arc::from_raw(opaque as *const AtomicU64) });
}

impl<'a> Counter<'a> {
    /// Counts `event` (a QMP event name) of `dom` on `conn`.
    pub fn new(conn: &'a Connect, dom: &Domain, event: &str) -> Result<Counter<'a>, String> {
        let name = CString::new(event).map_err(|_| format!("bad event name {event:?}"))?;
        let count = Arc::new(AtomicU64::new(0));
        let opaque = Arc::into_raw(count.clone()) as *mut c_void;
        // SAFETY: both pointers come from live `virt` handles that outlive the registration
        // (the counter borrows the connection; libvirt takes its own reference on the
        // domain); `name` lives across the call; `opaque` is released by `free_count`.
        let (conn_ptr, id) = unsafe {
            let conn_ptr = conn.as_ptr();
            let id = sys::virConnectDomainQemuMonitorEventRegister(
                conn_ptr,
                dom.as_ptr(),
                name.as_ptr(),
                Some(on_event),
                opaque,
                Some(free_count),
                0,
            );
            (conn_ptr, id)
        };
        if id < 0 {
            // libvirt did not take `opaque`: one counter leaks rather than risk a double free.
            return Err(virt::error::Error::last_error().message().to_owned());
        }
        Ok(Counter {
            conn: conn_ptr,
            id,
            count,
            _conn: PhantomData,
        })
    }

    /// Events seen so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Counter<'_> {
    fn drop(&mut self) {
        // SAFETY: the connection outlives the counter (it is borrowed for 'a) and `id` came
        // from a successful registration on it.
        unsafe {
            sys::virConnectDomainQemuMonitorEventDeregister(self.conn, self.id);
        }
    }
}

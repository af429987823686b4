//! Interrupt vectors of the hosted machine: Linux's x86 layout (irq_vectors.h).
//!
//! Device interrupts use vectors `FIRST_EXTERNAL_VECTOR..FIRST_SYSTEM_VECTOR`; the
//! system vectors at the top carry the tick and the IPIs, and are counted in the
//! `/proc/interrupts` arch rows (LOC, RES, CAL, IWI).

/// First vector available to devices.
pub const FIRST_EXTERNAL_VECTOR: u8 = 0x20;
/// First system vector (POSTED_MSI_NOTIFICATION_VECTOR in today's Linux).
pub const FIRST_SYSTEM_VECTOR: u8 = 0xeb;
/// The per-CPU tick (LOC).
pub const LOCAL_TIMER_VECTOR: u8 = 0xec;
/// irq_work self-IPI (IWI).
pub const IRQ_WORK_VECTOR: u8 = 0xf6;
/// Cross-CPU function call (CAL).
pub const CALL_FUNCTION_VECTOR: u8 = 0xfc;
/// Reschedule IPI (RES).
pub const RESCHEDULE_VECTOR: u8 = 0xfd;

/// True if `v` may be given to a device handler.
pub fn is_device_vector(v: u8) -> bool {
    (FIRST_EXTERNAL_VECTOR..FIRST_SYSTEM_VECTOR).contains(&v)
}

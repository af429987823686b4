//! GIC acknowledge, priority drop and deactivation (spec 7.2): IAR activates the best
//! candidate and pushes its group priority onto the active priorities (`apr`, one bit
//! per group priority); EOIR drops the highest active priority and, in EOImode 0, also
//! deactivates; in EOImode 1 DIR deactivates (from any CPU, for SPIs).

use super::core::{cpu_bit, Cand, GicCore, GroupSel, INTID_GROUP1_NOT_ACKED, INTID_SPURIOUS};
use super::lpi::FIRST_LPI;
use super::state::{Field, NR_SGIS};

impl GicCore {
    /// IAR value of `cand` (SGI source CPU in bits 12..10 on v2).
    fn iar_value(&self, cpu: u32, cand: &Cand) -> u32 {
        if !self.v3 && cand.id < NR_SGIS {
            let src = self.ids.banked[cpu as usize].sgi_src(cand.id as usize);
            return cand.id | ((src.trailing_zeros() & 7) << 10);
        }
        cand.id
    }

    /// HPPIR: the best candidate's IAR value if it is above the priority mask, else 1023.
    pub fn hppir(&self, cpu: u32, sel: GroupSel) -> u32 {
        let Some(cand) = self.best_pending(cpu) else { return INTID_SPURIOUS };
        let c = &self.cpus[cpu as usize];
        if cand.prio >= c.pmr || !sel_matches(sel, cand.group1) {
            return INTID_SPURIOUS;
        }
        if sel == GroupSel::Any && cand.group1 && !c.ack_ctl {
            return INTID_GROUP1_NOT_ACKED;
        }
        self.iar_value(cpu, &cand)
    }

    /// IAR read: acknowledge the best signalled candidate on `cpu`, or 1023/1022.
    pub fn acknowledge(&mut self, cpu: u32, sel: GroupSel) -> u32 {
        self.mark(cpu_bit(cpu));
        let Some(cand) = self.best_pending(cpu) else { return INTID_SPURIOUS };
        if !self.can_signal(cpu, &cand) || !sel_matches(sel, cand.group1) {
            return INTID_SPURIOUS;
        }
        let c = &self.cpus[cpu as usize];
        if sel == GroupSel::Any && cand.group1 && !c.ack_ctl {
            return INTID_GROUP1_NOT_ACKED;
        }
        let gbit = 1u128 << ((cand.prio & Self::gprio_mask(c, cand.group1)) >> 1);
        let value = self.iar_value(cpu, &cand);
        if cand.id >= FIRST_LPI {
            if let Some(l) = self.lpi.as_mut() {
                let i = (cand.id - FIRST_LPI) as usize;
                l.rd[cpu as usize].set_pending(i, false);
            }
        } else if cand.id < NR_SGIS {
            let b = &mut self.ids.banked[cpu as usize];
            let src = b.sgi_src(cand.id as usize);
            // v2 takes the lowest source; v3 (affinity routing) has one pending bit.
            let left = if self.v3 { 0 } else { src & src.wrapping_sub(1) };
            b.set_sgi_src(cand.id as usize, left);
            b.active |= 1 << cand.id;
        } else {
            self.ids.set(cpu, cand.id, Field::Pending, false);
            self.ids.set(cpu, cand.id, Field::Active, true);
        }
        self.mark_intid(cpu, cand.id);
        let c = &mut self.cpus[cpu as usize];
        c.apr |= gbit;
        if cand.group1 {
            c.apr_g1 |= gbit;
        }
        value
    }

    fn intid_of(&self, value: u32) -> u32 {
        if self.v3 {
            value & 0xFF_FFFF
        } else {
            value & 0x3FF
        }
    }

    fn implemented(&self, id: u32) -> bool {
        self.ids.valid(id) || self.lpi.as_ref().is_some_and(|l| l.index(id).is_some())
    }

    /// EOIR write: priority drop, plus deactivation in EOImode 0.
    pub fn end_of_interrupt(&mut self, cpu: u32, value: u32, sel: GroupSel) {
        let id = self.intid_of(value);
        self.mark(cpu_bit(cpu));
        // IDs the GIC does not implement (1020-1023 included) are ignored entirely.
        if !self.implemented(id) {
            return;
        }
        let Some(c) = self.cpus.get_mut(cpu as usize) else { return };
        if c.apr == 0 {
            return;
        }
        let top = c.apr & c.apr.wrapping_neg();
        let top_g1 = c.apr_g1 & top != 0;
        if !sel_matches(sel, top_g1) {
            return;
        }
        c.apr &= !top;
        c.apr_g1 &= !top;
        let eoi_mode = c.eoi_mode;
        if !eoi_mode {
            self.deactivate(cpu, id);
        }
    }

    /// DIR write: deactivation, only meaningful in EOImode 1.
    pub fn deactivate_interrupt(&mut self, cpu: u32, value: u32) {
        let id = self.intid_of(value);
        self.mark(cpu_bit(cpu));
        match self.cpus.get(cpu as usize) {
            Some(c) if c.eoi_mode => self.deactivate(cpu, id),
            _ => {}
        }
    }

    /// Clears the active state of `id` (banked INTIDs: on `cpu`). LPIs have none.
    pub fn deactivate(&mut self, cpu: u32, id: u32) {
        if id < FIRST_LPI {
            self.ids.set(cpu, id, Field::Active, false);
        }
        self.mark(cpu_bit(cpu));
        self.mark_intid(cpu, id);
    }

    /// Makes SGI `sgi` pending from `src` on every CPU in `targets`.
    pub fn send_sgi(&mut self, src: u32, sgi: u32, targets: u64) {
        self.mark(targets);
        if sgi >= NR_SGIS {
            return;
        }
        for (t, b) in self.ids.banked.iter_mut().enumerate() {
            if t < 64 && targets & (1 << t) != 0 {
                let s = b.sgi_src(sgi as usize) | 1 << (src & 63);
                b.set_sgi_src(sgi as usize, s);
            }
        }
    }
}

fn sel_matches(sel: GroupSel, group1: bool) -> bool {
    match sel {
        GroupSel::Any => true,
        GroupSel::G0 => !group1,
        GroupSel::G1 => group1,
    }
}

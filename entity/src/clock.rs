//! Where jornada's code reads the time. Everything that decides by the time
//! (what is due, a wait's end, a lease, a cooldown) and everything it stamps
//! takes `now` from one [`Clock`], handed to the API and the worker at
//! start. In production it is the system's; a test moves it forward to make
//! a wait end or a deadline pass without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// The time as jornada sees it: the system's, shifted by however far it was
/// moved ([`Clock::advance`]). A moved clock keeps running, so stamps taken
/// one after the other still follow each other.
#[derive(Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system's time; shared by every clone.
    shift_micros: Arc<AtomicI64>,
}

impl Clock {
    /// The system's time.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that reads `at` now and runs on from there: what replays a
    /// history (the demo's six months) through code that stamps and decides
    /// by the clock, as it would have happened.
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        let shift = (at - Utc::now()).num_microseconds().unwrap_or(0);
        Clock {
            shift_micros: Arc::new(AtomicI64::new(shift)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::microseconds(self.shift_micros.load(Ordering::Relaxed))
    }

    /// Moves the time forward by `by` for every holder of this clock.
    pub fn advance(&self, by: Duration) {
        let micros = by
            .num_microseconds()
            .expect("a shift within ±292,000 years");
        assert!(micros >= 0, "the clock only moves forward");
        self.shift_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock").field("now", &self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_clock_is_ahead_for_every_clone_and_keeps_running() {
        let clock = Clock::system();
        let holder = clock.clone();
        let before = Utc::now();
        clock.advance(Duration::hours(25));
        let moved = holder.now();
        assert!(moved >= before + Duration::hours(25));
        assert!(moved < Utc::now() + Duration::hours(25) + Duration::seconds(5));
        assert!(holder.now() >= moved, "time does not run backwards");
    }

    #[test]
    fn a_clock_may_start_in_the_past_and_catch_up() {
        let start = Utc::now() - Duration::days(180);
        let clock = Clock::starting_at(start);
        let read = clock.now();
        assert!(read >= start && read < start + Duration::seconds(5));
        clock.advance(Duration::days(180));
        assert!(clock.now() >= Utc::now() - Duration::seconds(5));
    }

    #[test]
    #[should_panic(expected = "only moves forward")]
    fn the_clock_never_moves_back() {
        Clock::system().advance(Duration::seconds(-1));
    }
}

//! Log rate limits: an event that a client can repeat at will (a denial, a 400, a refused
//! connection) is logged at its level the first time in a window and at debug after that, so
//! a load of bad requests costs a counter increment, not megabytes of log. The counts are in
//! the metrics either way.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// One log site: due at most once per `window`.
#[derive(Debug)]
pub struct Every {
    window: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Every {
    pub fn new(window: Duration) -> Self {
        Every {
            window,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when the event should be logged now, `n` being how many were held back since
    /// the last one logged; `None` to hold this one back.
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.window => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Per key (an object): the first event per key in a window is due. Remembers at most
/// `capacity` keys; when full, keys older than the window are forgotten, and if none is, all
/// are (a flood of distinct keys then logs again, bounded by the caller's own rate).
#[derive(Debug)]
pub struct PerKey<K> {
    window: Duration,
    capacity: usize,
    seen: HashMap<K, Instant>,
}

impl<K: Hash + Eq> PerKey<K> {
    pub fn new(window: Duration, capacity: usize) -> Self {
        PerKey {
            window,
            capacity,
            seen: HashMap::new(),
        }
    }

    pub fn due(&mut self, key: K, now: Instant) -> bool {
        if let Some(at) = self.seen.get(&key) {
            if now.duration_since(*at) < self.window {
                return false;
            }
        }
        if self.seen.len() >= self.capacity {
            let window = self.window;
            self.seen.retain(|_, at| now.duration_since(*at) < window);
            if self.seen.len() >= self.capacity {
                self.seen.clear();
            }
        }
        self.seen.insert(key, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_window_is_held_back_and_counted() {
        let t0 = Instant::now();
        let mut e = Every::new(Duration::from_secs(60));
        assert_eq!(e.due(t0), Some(0));
        assert_eq!(e.due(t0 + Duration::from_secs(1)), None);
        assert_eq!(e.due(t0 + Duration::from_secs(2)), None);
        assert_eq!(e.due(t0 + Duration::from_secs(61)), Some(2));
    }

    #[test]
    fn each_object_is_logged_once_per_window() {
        let t0 = Instant::now();
        let mut p = PerKey::new(Duration::from_secs(60), 100);
        assert!(p.due("a", t0));
        assert!(!p.due("a", t0 + Duration::from_secs(30)));
        assert!(p.due("b", t0 + Duration::from_secs(30)));
        assert!(p.due("a", t0 + Duration::from_secs(60)));
    }

    #[test]
    fn the_key_memory_is_bounded() {
        let t0 = Instant::now();
        let mut p = PerKey::new(Duration::from_secs(60), 10);
        for i in 0..1000 {
            p.due(i, t0);
        }
        assert!(p.seen.len() <= 10);
    }
}

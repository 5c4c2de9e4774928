//! A clock the test sets by hand (included with `#[path]` by the tests that need one).
#![allow(dead_code)]

use std::sync::Mutex;

use devlog_core::{Clock, Timestamp};

#[derive(Debug)]
pub struct ManualClock(pub Mutex<Timestamp>);

impl ManualClock {
    pub fn at(t: &str) -> Self {
        ManualClock(Mutex::new(t.parse().unwrap()))
    }

    pub fn set(&self, t: &str) {
        *self.0.lock().unwrap() = t.parse().unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

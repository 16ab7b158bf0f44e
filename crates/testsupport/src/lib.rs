//! berth-testsupport: what berth's tests stand on.

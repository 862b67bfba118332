//! Moving packets between peers, and the network impairment model used to test that.

pub mod impair;

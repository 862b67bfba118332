#[cfg(test)]
pub mod echo_canceller_test_tools;

#[cfg(test)]
pub mod random;

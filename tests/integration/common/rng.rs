//! The integration tests' one source of pseudo-random numbers: the crate's
//! (`runsheet::testdata::Rng`), which the generator and the benches use too.

pub use runsheet::testdata::Rng;

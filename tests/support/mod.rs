pub mod envtest;
pub mod fake_apiserver;

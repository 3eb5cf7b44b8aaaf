//! Cluster view: kube-rs reflectors feeding the shared [`crate::lookup::Index`].

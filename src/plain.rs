//! Plain line-by-line front end (skeleton).

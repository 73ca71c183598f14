//! Sources: the outside systems herald reads data from (and, for approvals, writes one thing
//! back to). Each client owns its transport, auth and error wording, and hands jobs plain typed
//! data; jobs stay pure (data in, rendered messages out).

pub mod xero;

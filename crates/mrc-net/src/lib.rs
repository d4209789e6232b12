//! The real MRC transport over UDP/IPv6 sockets, and the network-namespace fabric that lets the
//! Linux kernel play the switches (static SRv6 uN shift-and-forward).

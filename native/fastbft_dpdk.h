/* FastBft DPDK shim: the few DPDK entry points the C# transport needs (many DPDK functions are
 * static inline and cannot be bound from C# directly). Framing and protocol logic live in C#.
 * All functions return >= 0 on success and a negative errno on failure unless stated otherwise. */
#ifndef FASTBFT_DPDK_H
#define FASTBFT_DPDK_H
#include <stdint.h>

#define FBD_ABI_VERSION 2
#define FBD_EXPORT __attribute__((visibility("default")))

/* Per-packet receive flags (upper 16 bits of lenflags). */
#define FBD_RX_IP_CKSUM_GOOD  0x0001u
#define FBD_RX_IP_CKSUM_BAD   0x0002u
#define FBD_RX_L4_CKSUM_GOOD  0x0004u
#define FBD_RX_L4_CKSUM_BAD   0x0008u
#define FBD_RX_MULTISEG       0x0010u

/* Offload capability bits reported in fbd_port_info.caps. */
#define FBD_CAP_TX_IPV4_CKSUM 0x0001u
#define FBD_CAP_TX_UDP_CKSUM  0x0002u
#define FBD_CAP_RX_IPV4_CKSUM 0x0004u
#define FBD_CAP_RX_UDP_CKSUM  0x0008u
#define FBD_CAP_RX_INTR       0x0010u

/* Transmit flags for fbd_tx_send. */
#define FBD_TX_CKSUM_OFFLOAD  0x0001u /* IPv4 header + UDP checksum by the device (pseudo-header sum pre-filled) */

struct fbd_port_conf {
    uint32_t nb_mbufs;        /* mempool size (mbufs) */
    uint32_t data_room;       /* mbuf data room incl. headroom (bytes) */
    uint16_t rx_desc;
    uint16_t tx_desc;
    uint16_t mtu;             /* 0 = leave the device default */
    uint16_t want_rx_intr;    /* 1 = configure rx interrupts if the device supports them */
    uint16_t want_offload;    /* 1 = enable checksum offloads the device supports */
    uint16_t promiscuous;     /* 1 = enable promiscuous mode */
};

struct fbd_port_info {
    uint16_t port_id;
    uint8_t  mac[6];
    uint32_t caps;            /* FBD_CAP_* actually enabled */
    uint32_t max_rx_pktlen;
    uint32_t tx_capacity;     /* bytes writable in one tx mbuf */
    char     driver[32];
};

FBD_EXPORT int fbd_abi_version(void);
/* Initialises EAL once per process. argv (argv[0] included) is copied into native memory that is
 * kept for the life of the process. Restores the calling thread's CPU affinity afterwards when
 * restore_affinity != 0 (rte_eal_init pins it to the main lcore). err receives a message. */
FBD_EXPORT int fbd_eal_init(int argc, const char *const *argv, int restore_affinity, char *err, int errlen);
FBD_EXPORT int fbd_eal_initialized(void);
FBD_EXPORT int fbd_eal_cleanup(void);
/* Registers the calling (non-EAL) thread with DPDK; returns the lcore id. Idempotent per thread. */
FBD_EXPORT int fbd_thread_register(void);
/* Pins the calling thread to one CPU (cpu >= 0). */
FBD_EXPORT int fbd_pin_thread(int cpu);
/* Opens (probing if needed), configures and starts a port from a device string: a PCI address,
 * a vdev devargs string ("net_memif0,role=server,socket=/x.sock") or the name of a port created
 * by --vdev/--allow in the EAL arguments. Returns the port id. */
FBD_EXPORT int fbd_port_open(const char *device, const struct fbd_port_conf *conf,
                             struct fbd_port_info *info, char *err, int errlen);
FBD_EXPORT int fbd_port_close(uint16_t port);
/* Receives up to n frames. mbufs[i] must later be freed with fbd_free_bulk; data[i] points at the
 * frame, lenflags[i] = frame length | (FBD_RX_* flags << 16). When none is ready and timeout_ms != 0
 * and rx interrupts are armed on this port, waits on the interrupt (timeout_ms < 0: forever). */
FBD_EXPORT int fbd_rx_burst(uint16_t port, void **mbufs, uint8_t **data, uint32_t *lenflags, int n, int timeout_ms);
FBD_EXPORT void fbd_free_bulk(void **mbufs, int n);
/* Allocates n mbufs for transmit (all or nothing); data[i] receives the writable data pointer. */
FBD_EXPORT int fbd_tx_alloc(uint16_t port, void **mbufs, uint8_t **data, int n);
/* Transmits n prepared mbufs with the given frame lengths; frees those the device did not take.
 * Returns the number sent. */
FBD_EXPORT int fbd_tx_send(uint16_t port, void **mbufs, const uint16_t *lens, int n, uint32_t flags);
/* Link state: *up = 0/1, *speed_mbps. */
FBD_EXPORT int fbd_link(uint16_t port, int *up, uint32_t *speed_mbps);
/* Device counters: out[0..7] = ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf. */
FBD_EXPORT int fbd_stats(uint16_t port, uint64_t *out);
/* Whether rx interrupts are armed for this port (1) or not (0). */
FBD_EXPORT int fbd_rx_intr_available(uint16_t port);
/* Doorbells (futex on a word of a shared file mapping; not DPDK): wait while *word == expected, at most
 * timeout_us microseconds (< 0: forever); returns 0 when woken or the value differed, -ETIMEDOUT, -EINTR. */
FBD_EXPORT int fbd_futex_wait(volatile int32_t *word, int32_t expected, int64_t timeout_us);
/* Wakes the waiters of *word; returns how many were woken. */
FBD_EXPORT int fbd_futex_wake(volatile int32_t *word);
/* Message for a negative return value (DPDK or errno). */
FBD_EXPORT const char *fbd_strerror(int err);
#endif

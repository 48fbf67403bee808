/* FastBft DPDK shim. See fastbft_dpdk.h and docs/dpdk.md. */
#define _GNU_SOURCE
#include "fastbft_dpdk.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

struct fbd_port {
    struct rte_mempool *pool;
    int epfd;          /* epoll fd with the rx queue's interrupt, or -1 */
    int hotplugged;    /* probed by fbd_port_open: removed again on close */
    int open;
};

static struct fbd_port g_ports[RTE_MAX_ETHPORTS];
static int g_eal_done;
static char **g_argv;          /* kept for the life of the process (EAL keeps pointers) */
static int g_pool_seq;

static void set_err(char *err, int errlen, const char *fmt, ...)
{
    if (err == NULL || errlen <= 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, (size_t)errlen, fmt, ap);
    va_end(ap);
}

static int neg_rte_errno(int fallback)
{
    int e = rte_errno;
    return e > 0 ? -e : -fallback;
}

int fbd_abi_version(void) { return FBD_ABI_VERSION; }

int fbd_eal_initialized(void) { return g_eal_done; }

int fbd_eal_init(int argc, const char *const *argv, int restore_affinity, char *err, int errlen)
{
    if (g_eal_done) {
        set_err(err, errlen, "EAL is already initialised in this process (once per process)");
        return -EALREADY;
    }
    if (argc < 1 || argv == NULL) {
        set_err(err, errlen, "argv must contain at least argv[0]");
        return -EINVAL;
    }
    /* rte_eal_init permutes argv and keeps pointers into it: copy into memory we never free. */
    g_argv = calloc((size_t)argc + 1, sizeof(char *));
    if (g_argv == NULL) return -ENOMEM;
    for (int i = 0; i < argc; i++) {
        g_argv[i] = strdup(argv[i] != NULL ? argv[i] : "");
        if (g_argv[i] == NULL) return -ENOMEM;
    }
    cpu_set_t saved;
    int have_saved = restore_affinity && pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;

    int rc = rte_eal_init(argc, g_argv);
    if (rc < 0) {
        int e = rte_errno > 0 ? rte_errno : EINVAL;
        set_err(err, errlen, "rte_eal_init failed: %s (errno %d)", rte_strerror(e), e);
        if (have_saved) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
        return -e;
    }
    g_eal_done = 1;
    for (int i = 0; i < RTE_MAX_ETHPORTS; i++) g_ports[i].epfd = -1;
    if (have_saved) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return 0;
}

int fbd_eal_cleanup(void)
{
    if (!g_eal_done) return 0;
    for (uint16_t p = 0; p < RTE_MAX_ETHPORTS; p++)
        if (g_ports[p].open) fbd_port_close(p);
    int rc = rte_eal_cleanup();
    g_eal_done = 0; /* EAL cannot be initialised again in this process anyway */
    return rc < 0 ? neg_rte_errno(EIO) : 0;
}

int fbd_thread_register(void)
{
    if (!g_eal_done) return -ENODEV;
    unsigned id = rte_lcore_id();
    if (id != LCORE_ID_ANY) return (int)id;
    if (rte_thread_register() < 0) return neg_rte_errno(ENOSPC);
    return (int)rte_lcore_id();
}

int fbd_pin_thread(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    return rc == 0 ? 0 : -rc;
}

/* Device name = devargs up to the first comma. */
static void device_name(const char *device, char *name, size_t len)
{
    size_t i = 0;
    while (device[i] != '\0' && device[i] != ',' && i + 1 < len) { name[i] = device[i]; i++; }
    name[i] = '\0';
}

static int configure_and_start(uint16_t port, const struct fbd_port_conf *conf, struct rte_eth_dev_info *dinfo,
                               int with_intr, uint32_t *caps, char *err, int errlen)
{
    struct rte_eth_conf pc;
    memset(&pc, 0, sizeof pc);
    uint64_t txo = 0, rxo = 0;
    *caps = 0;
    if (conf->want_offload) {
        if ((dinfo->tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) && (dinfo->tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)) {
            txo |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
            *caps |= FBD_CAP_TX_IPV4_CKSUM | FBD_CAP_TX_UDP_CKSUM;
        }
        if ((dinfo->rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) && (dinfo->rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM)) {
            rxo |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
            *caps |= FBD_CAP_RX_IPV4_CKSUM | FBD_CAP_RX_UDP_CKSUM;
        }
    }
    pc.txmode.offloads = txo;
    pc.rxmode.offloads = rxo;
    pc.intr_conf.rxq = with_intr ? 1 : 0;

    int rc = rte_eth_dev_configure(port, 1, 1, &pc);
    if (rc < 0) { set_err(err, errlen, "rte_eth_dev_configure: %s", rte_strerror(-rc)); return rc; }
    uint16_t nrx = conf->rx_desc, ntx = conf->tx_desc;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
    if (rc < 0) { set_err(err, errlen, "rte_eth_dev_adjust_nb_rx_tx_desc: %s", rte_strerror(-rc)); return rc; }
    if (conf->mtu != 0) {
        rc = rte_eth_dev_set_mtu(port, conf->mtu);
        if (rc < 0 && rc != -ENOTSUP) { set_err(err, errlen, "rte_eth_dev_set_mtu(%u): %s", conf->mtu, rte_strerror(-rc)); return rc; }
    }
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0) socket = (int)rte_socket_id();
    struct rte_eth_rxconf rxc = dinfo->default_rxconf;
    rxc.offloads = rxo;
    rc = rte_eth_rx_queue_setup(port, 0, nrx, (unsigned)socket, &rxc, g_ports[port].pool);
    if (rc < 0) { set_err(err, errlen, "rte_eth_rx_queue_setup: %s", rte_strerror(-rc)); return rc; }
    struct rte_eth_txconf txc = dinfo->default_txconf;
    txc.offloads = txo;
    rc = rte_eth_tx_queue_setup(port, 0, ntx, (unsigned)socket, &txc);
    if (rc < 0) { set_err(err, errlen, "rte_eth_tx_queue_setup: %s", rte_strerror(-rc)); return rc; }
    rc = rte_eth_dev_start(port);
    if (rc < 0) { set_err(err, errlen, "rte_eth_dev_start: %s (memif client: is the server running?)", rte_strerror(-rc)); return rc; }
    return 0;
}

int fbd_port_open(const char *device, const struct fbd_port_conf *conf, struct fbd_port_info *info, char *err, int errlen)
{
    if (!g_eal_done) { set_err(err, errlen, "EAL is not initialised"); return -ENODEV; }
    if (device == NULL || conf == NULL || info == NULL) return -EINVAL;
    char name[RTE_DEV_NAME_MAX_LEN];
    device_name(device, name, sizeof name);

    uint16_t port;
    int hotplugged = 0;
    if (rte_eth_dev_get_port_by_name(name, &port) != 0) {
        int rc = rte_dev_probe(device);
        if (rc < 0) {
            set_err(err, errlen, "cannot open device '%s': rte_dev_probe: %s", device, rte_strerror(-rc));
            return rc;
        }
        hotplugged = 1;
        if (rte_eth_dev_get_port_by_name(name, &port) != 0) {
            set_err(err, errlen, "device '%s' was probed but no ethdev port named '%s' exists", device, name);
            return -ENODEV;
        }
    }
    struct fbd_port *fp = &g_ports[port];
    if (fp->open) { set_err(err, errlen, "port %u ('%s') is already open", port, name); return -EBUSY; }

    struct rte_eth_dev_info dinfo;
    int rc = rte_eth_dev_info_get(port, &dinfo);
    if (rc < 0) { set_err(err, errlen, "rte_eth_dev_info_get: %s", rte_strerror(-rc)); goto fail_remove; }

    char pool_name[RTE_MEMPOOL_NAMESIZE];
    snprintf(pool_name, sizeof pool_name, "fbd_mp_%u_%d", port, g_pool_seq++);
    unsigned cache = conf->nb_mbufs >= 4096 ? 256 : conf->nb_mbufs / 16;
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0) socket = (int)rte_socket_id();
    fp->pool = rte_pktmbuf_pool_create(pool_name, conf->nb_mbufs, cache, 0, (uint16_t)conf->data_room, socket);
    if (fp->pool == NULL) {
        rc = neg_rte_errno(ENOMEM);
        set_err(err, errlen, "rte_pktmbuf_pool_create(%u mbufs of %u B): %s (raise EAL -m)", conf->nb_mbufs, conf->data_room, rte_strerror(-rc));
        goto fail_remove;
    }

    uint32_t caps = 0;
    int with_intr = conf->want_rx_intr ? 1 : 0;
    rc = configure_and_start(port, conf, &dinfo, with_intr, &caps, err, errlen);
    if (rc < 0 && with_intr) {
        /* The device may not support rx interrupts: retry polling-only. */
        rte_eth_dev_stop(port);
        with_intr = 0;
        rc = configure_and_start(port, conf, &dinfo, 0, &caps, err, errlen);
    }
    if (rc < 0) goto fail_pool;

    fp->epfd = -1;
    if (with_intr) {
        /* Devices without rx interrupts (e.g. net_memif in 22.11) log an error here: silence it. */
        uint32_t level = rte_log_get_global_level();
        rte_log_set_global_level(RTE_LOG_EMERG);
        int epfd = epoll_create1(EPOLL_CLOEXEC);
        int ok = epfd >= 0 && rte_eth_dev_rx_intr_ctl_q(port, 0, epfd, RTE_INTR_EVENT_ADD, NULL) == 0
            && rte_eth_dev_rx_intr_enable(port, 0) == 0;
        rte_log_set_global_level(level);
        if (ok) {
            rte_eth_dev_rx_intr_disable(port, 0);
            fp->epfd = epfd;
            caps |= FBD_CAP_RX_INTR;
        } else if (epfd >= 0) {
            close(epfd);
        }
    }
    if (conf->promiscuous) rte_eth_promiscuous_enable(port);

    struct rte_ether_addr mac;
    rte_eth_macaddr_get(port, &mac);
    memset(info, 0, sizeof *info);
    info->port_id = port;
    memcpy(info->mac, mac.addr_bytes, 6);
    info->caps = caps;
    info->max_rx_pktlen = dinfo.max_rx_pktlen;
    info->tx_capacity = conf->data_room - RTE_PKTMBUF_HEADROOM;
    snprintf(info->driver, sizeof info->driver, "%s", dinfo.driver_name != NULL ? dinfo.driver_name : "?");
    fp->hotplugged = hotplugged;
    fp->open = 1;
    return port;

fail_pool:
    rte_eth_dev_stop(port);
    rte_mempool_free(fp->pool);
    fp->pool = NULL;
fail_remove:
    if (hotplugged) {
        struct rte_eth_dev_info di;
        if (rte_eth_dev_info_get(port, &di) == 0 && di.device != NULL) rte_dev_remove(di.device);
    }
    return rc < 0 ? rc : -EIO;
}

int fbd_port_close(uint16_t port)
{
    if (port >= RTE_MAX_ETHPORTS || !g_ports[port].open) return -EINVAL;
    struct fbd_port *fp = &g_ports[port];
    if (fp->epfd >= 0) {
        rte_eth_dev_rx_intr_ctl_q(port, 0, fp->epfd, RTE_INTR_EVENT_DEL, NULL);
        close(fp->epfd);
        fp->epfd = -1;
    }
    struct rte_eth_dev_info di;
    int have_dev = rte_eth_dev_info_get(port, &di) == 0 && di.device != NULL;
    rte_eth_dev_stop(port);
    if (fp->hotplugged && have_dev) {
        rte_eth_dev_close(port);
        rte_dev_remove(di.device);
    } else {
        rte_eth_dev_close(port);
    }
    rte_mempool_free(fp->pool);
    fp->pool = NULL;
    fp->open = 0;
    return 0;
}

static inline uint32_t rx_flags(const struct rte_mbuf *m)
{
    uint32_t f = 0;
    uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD) f |= FBD_RX_IP_CKSUM_GOOD;
    else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD) f |= FBD_RX_IP_CKSUM_BAD;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD) f |= FBD_RX_L4_CKSUM_GOOD;
    else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) f |= FBD_RX_L4_CKSUM_BAD;
    if (m->nb_segs > 1) f |= FBD_RX_MULTISEG;
    return f;
}

static inline int rx_once(uint16_t port, void **mbufs, uint8_t **data, uint32_t *lenflags, int n)
{
    struct rte_mbuf **ms = (struct rte_mbuf **)mbufs;
    uint16_t got = rte_eth_rx_burst(port, 0, ms, (uint16_t)n);
    for (uint16_t i = 0; i < got; i++) {
        struct rte_mbuf *m = ms[i];
        data[i] = rte_pktmbuf_mtod(m, uint8_t *);
        lenflags[i] = (uint32_t)m->data_len | (rx_flags(m) << 16);
    }
    return got;
}

int fbd_rx_burst(uint16_t port, void **mbufs, uint8_t **data, uint32_t *lenflags, int n, int timeout_ms)
{
    if (n <= 0) return 0;
    if (n > 65535) n = 65535;
    int got = rx_once(port, mbufs, data, lenflags, n);
    if (got > 0 || timeout_ms == 0) return got;
    struct fbd_port *fp = &g_ports[port];
    if (fp->epfd < 0) return 0;
    /* Arm, re-check (a frame may have arrived before arming), then sleep on the interrupt. */
    rte_eth_dev_rx_intr_enable(port, 0);
    got = rx_once(port, mbufs, data, lenflags, n);
    if (got == 0) {
        struct rte_epoll_event ev[1];
        rte_epoll_wait(fp->epfd, ev, 1, timeout_ms);
    }
    rte_eth_dev_rx_intr_disable(port, 0);
    if (got == 0) got = rx_once(port, mbufs, data, lenflags, n);
    return got;
}

void fbd_free_bulk(void **mbufs, int n)
{
    if (n > 0) rte_pktmbuf_free_bulk((struct rte_mbuf **)mbufs, (unsigned)n);
}

int fbd_tx_alloc(uint16_t port, void **mbufs, uint8_t **data, int n)
{
    if (port >= RTE_MAX_ETHPORTS || !g_ports[port].open || n <= 0) return -EINVAL;
    struct rte_mbuf **ms = (struct rte_mbuf **)mbufs;
    if (rte_pktmbuf_alloc_bulk(g_ports[port].pool, ms, (unsigned)n) != 0) return -ENOBUFS;
    for (int i = 0; i < n; i++) data[i] = rte_pktmbuf_mtod(ms[i], uint8_t *);
    return n;
}

int fbd_tx_send(uint16_t port, void **mbufs, const uint16_t *lens, int n, uint32_t flags)
{
    if (n <= 0) return 0;
    struct rte_mbuf **ms = (struct rte_mbuf **)mbufs;
    for (int i = 0; i < n; i++) {
        struct rte_mbuf *m = ms[i];
        m->data_len = lens[i];
        m->pkt_len = lens[i];
        /* Offload only IPv4 frames: ARP and raw frames must go out untouched. */
        const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
        if ((flags & FBD_TX_CKSUM_OFFLOAD) && lens[i] >= 42 && d[12] == 0x08 && d[13] == 0x00) {
            m->l2_len = 14;
            m->l3_len = 20;
            m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
        }
    }
    int sent = 0;
    for (int attempt = 0; attempt < 8 && sent < n; attempt++) {
        sent += rte_eth_tx_burst(port, 0, ms + sent, (uint16_t)(n - sent));
    }
    if (sent < n) rte_pktmbuf_free_bulk(ms + sent, (unsigned)(n - sent));
    return sent;
}

int fbd_link(uint16_t port, int *up, uint32_t *speed_mbps)
{
    struct rte_eth_link link;
    memset(&link, 0, sizeof link);
    int rc = rte_eth_link_get_nowait(port, &link);
    if (rc < 0) return rc;
    if (up) *up = link.link_status == RTE_ETH_LINK_UP;
    if (speed_mbps) *speed_mbps = link.link_speed;
    return 0;
}

int fbd_stats(uint16_t port, uint64_t *out)
{
    struct rte_eth_stats s;
    int rc = rte_eth_stats_get(port, &s);
    if (rc < 0) return rc;
    out[0] = s.ipackets; out[1] = s.opackets; out[2] = s.ibytes; out[3] = s.obytes;
    out[4] = s.imissed; out[5] = s.ierrors; out[6] = s.oerrors; out[7] = s.rx_nombuf;
    return 0;
}

int fbd_rx_intr_available(uint16_t port)
{
    return port < RTE_MAX_ETHPORTS && g_ports[port].open && g_ports[port].epfd >= 0;
}

const char *fbd_strerror(int err)
{
    return rte_strerror(err < 0 ? -err : err);
}

int fbd_futex_wait(volatile int32_t *word, int32_t expected, int64_t timeout_us)
{
    struct timespec ts, *pts = NULL;
    if (timeout_us >= 0) {
        ts.tv_sec = timeout_us / 1000000;
        ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
        pts = &ts;
    }
    /* Not FUTEX_PRIVATE: the word lives in a file mapping shared between processes. */
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, pts, NULL, 0);
    if (rc == 0) return 0;
    if (errno == EAGAIN) return 0;
    return -errno;
}

int fbd_futex_wake(volatile int32_t *word)
{
    long rc = syscall(SYS_futex, word, FUTEX_WAKE, 1 << 30, NULL, NULL, 0);
    return rc < 0 ? -errno : (int)rc;
}

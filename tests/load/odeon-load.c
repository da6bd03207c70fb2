/*
 * odeon-load.c - the load generator's entry point (tests/load/README.md):
 *
 *   odeon-load viewers [options]   N WebRTC viewers of a Janus-API server (viewers.c)
 *   odeon-load source [options]    VP8 + Opus test source as plain RTP over UDP (source.c)
 *
 * Each mode parses its own options; `odeon-load MODE --help` lists them.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "load.h"

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "viewers") == 0)
        return viewers_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "source") == 0)
        return source_main(argc - 1, argv + 1);
    fprintf(argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) ? stdout
                                                                                        : stderr,
            "usage: odeon-load viewers [options]   WebRTC viewers (server offers, we answer)\n"
            "       odeon-load source [options]    VP8 + Opus RTP test source\n"
            "       odeon-load MODE --help\n");
    return argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) ? 0 : 2;
}

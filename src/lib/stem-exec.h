#pragma once

/* Plain C: stem-logwriter links nothing but libc. */

/* In a forked (or vforked) child about to exec: the program must not
 * inherit our signal dispositions or mask, nor any descriptor above 2
 * (every one is made close-on-exec).  Async-signal-safe. */
void stem_exec_reset (void);

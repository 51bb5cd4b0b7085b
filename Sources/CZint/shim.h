// zint.h imports as is. Debian's libzint-dev ships no pkg-config file, so the module map links
// -lzint itself.
#include <zint.h>

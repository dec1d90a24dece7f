// SPDX-License-Identifier: MIT
// ovlcore/ovlcore.hpp: the umbrella header, every portable public header of ovlcore (spec §0-§12).
// Users include it. Not included: the opt-in ovlcore/fmt.hpp and the Linux-only
// ovlcore/backend/posix.hpp, ovlcore/backend/module_defaults_sysfs.hpp, ovlcore/backend/erofs.hpp
// and ovlcore/backend/images.hpp.
// tests/compile/check_umbrella.cmake fails if a header is missing here.
#pragma once

#include "backend.hpp"
#include "backend/composite.hpp"
#include "backend/memory.hpp"
#include "config.hpp"
#include "dump.hpp"
#include "explain.hpp"
#include "extensions.hpp"
#include "hash.hpp"
#include "layer_stack.hpp"
#include "lint.hpp"
#include "lookup.hpp"
#include "lowerdata.hpp"
#include "mount_error.hpp"
#include "option_parsing.hpp"
#include "option_resolution.hpp"
#include "option_splitting.hpp"
#include "options.hpp"
#include "overlay.hpp"
#include "quote.hpp"
#include "readdir.hpp"
#include "result.hpp"
#include "stat.hpp"
#include "trace.hpp"
#include "types.hpp"
#include "verity.hpp"
#include "version.hpp"
#include "whiteout.hpp"
#include "xattr.hpp"
#include "xattr_view.hpp"

// Precompiled header of the shim: the heavy libtorch headers every unit uses.
#pragma once
#include "common.h"

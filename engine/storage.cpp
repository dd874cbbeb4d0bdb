#include "engine/storage.h"

#include "engine/backend.h"

namespace qs::engine {

Storage::Storage(std::size_t nbytes, Device device)
    : data_(device_alloc(device, nbytes)), nbytes_(nbytes), device_(device) {}

Storage::~Storage() { device_free(device_, data_, nbytes_); }

}  // namespace qs::engine

#include "engine/io/tensor_file.h"

#include <hdf5.h>

#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace qs::engine {

namespace {

// HDF5 handles closed on scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~Handle() {
    if (id >= 0) close(id);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

// HDF5 prints its own error stack by default; we report our own messages.
// Printing stays off for the rest of the process: after a read refused a
// corrupt object header, HDF5's own shutdown fails to evict it and, with
// printing on, loops over its error stack at exit.
struct QuietHdf5 {
  QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};

hid_t native_type(DType d) {
  switch (d) {
    case DType::f32: return H5T_NATIVE_FLOAT;
    case DType::f64: return H5T_NATIVE_DOUBLE;
    case DType::i32: return H5T_NATIVE_INT32;
    case DType::i64: return H5T_NATIVE_INT64;
    case DType::u8: return H5T_NATIVE_UINT8;
    case DType::bf16:
    case DType::f16: return H5T_NATIVE_UINT16;  // raw bits; the dtype attribute says which
  }
  return H5T_NATIVE_UINT8;
}

void write_string_attribute(hid_t owner, const std::string& name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.id, std::max<std::size_t>(value.size(), 1));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(owner, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  QS_CHECK(attr.id >= 0, "cannot create attribute '{}'", name);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  QS_CHECK(H5Awrite(attr.id, type.id, padded.data()) >= 0, "cannot write attribute '{}'", name);
}

std::string read_string_attribute(hid_t attr) {
  Handle type(H5Aget_type(attr), H5Tclose);
  QS_CHECK(H5Tget_class(type.id) == H5T_STRING, "attribute is not a string");
  std::size_t size = H5Tget_size(type.id);
  std::string value(size, '\0');
  Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem.id, size);
  QS_CHECK(H5Aread(attr, mem.id, value.data()) >= 0, "cannot read attribute");
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

}  // namespace

namespace {

// Chunks of at most ~4 MiB along the first dimension: the Fletcher32 filter
// needs a chunked layout, and one checksum per chunk localises a bad byte.
std::vector<hsize_t> chunk_dims(const std::vector<hsize_t>& dims, std::size_t element_bytes) {
  std::vector<hsize_t> chunk = dims;
  hsize_t row_bytes = element_bytes;
  for (std::size_t i = 1; i < dims.size(); ++i) row_bytes *= dims[i];
  QS_CHECK(row_bytes <= (hsize_t{1} << 31), "a tensor row of {} bytes is too large for one HDF5 chunk", row_bytes);
  chunk[0] = std::clamp<hsize_t>((hsize_t{4} << 20) / std::max<hsize_t>(row_bytes, 1), 1, dims[0]);
  return chunk;
}

void write_tensors(hid_t file, const std::filesystem::path& path, const std::filesystem::path& tmp, const TensorFile& data) {
  for (auto& [name, value] : data.attributes) {
    try {
      write_string_attribute(file, name, value);
    } catch (const Error& e) {
      fail("checkpoint {}: {}", path.string(), e.what());
    }
  }
  for (auto& [name, t] : data.tensors) {
    QS_CHECK(!name.empty() && name.find('/') == std::string::npos,
             "checkpoint {}: tensor name '{}' must be non-empty and contain no '/'", path.string(), name);
    Tensor c = t.to(Device::cpu()).contiguous();
    std::vector<hsize_t> dims(c.shape().begin(), c.shape().end());
    Handle space(c.dim() == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                 H5Sclose);
    // Every non-empty tensor carries a Fletcher32 checksum per chunk: a flipped
    // bit is refused at load time, inside the cache or outside it.
    Handle props(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_obj_track_times(props.id, false);
    if (c.dim() > 0 && c.numel() > 0) {
      const std::vector<hsize_t> chunk = chunk_dims(dims, dtype_size(c.dtype()));
      QS_CHECK(H5Pset_chunk(props.id, static_cast<int>(chunk.size()), chunk.data()) >= 0 && H5Pset_fletcher32(props.id) >= 0,
               "checkpoint {}: cannot set up checksums for dataset '{}'", path.string(), name);
    }
    Handle ds(H5Dcreate2(file, name.c_str(), native_type(c.dtype()), space.id, H5P_DEFAULT, props.id, H5P_DEFAULT),
              H5Dclose);
    QS_CHECK(ds.id >= 0, "checkpoint {}: cannot create dataset '{}'", tmp.string(), name);
    if (c.numel() > 0) {
      QS_CHECK(H5Dwrite(ds.id, native_type(c.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, c.raw_data()) >= 0,
               "checkpoint {}: cannot write dataset '{}' (disk full?)", tmp.string(), name);
    }
    write_string_attribute(ds.id, "dtype", std::string(dtype_name(c.dtype())));
  }
  QS_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0, "checkpoint {}: flush failed (disk full?)", tmp.string());
}

// Every chunk must be present (a missing one reads as zeros) and stored with
// exactly its bytes (plus the 4-byte Fletcher32 sum) inside the file: HDF5
// 1.10 runs its checksum filter over whatever size the chunk index claims
// and reads past its buffer on a corrupt one (found by fuzzing).
void check_chunk_index(hid_t ds, hid_t space, const std::filesystem::path& path, const std::string& name, hsize_t expected_chunks,
                       hsize_t stored_bytes, uint64_t file_bytes) {
  hsize_t n = 0;
  QS_CHECK(H5Dget_num_chunks(ds, space, &n) >= 0 && n == expected_chunks,
           "checkpoint {}: dataset '{}' has {} of its {} chunks (corrupt?)", path.string(), name, n, expected_chunks);
  for (hsize_t i = 0; i < n; ++i) {
    unsigned filter_mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    QS_CHECK(H5Dget_chunk_info(ds, space, i, nullptr, &filter_mask, &addr, &size) >= 0 && size == stored_bytes &&
                 filter_mask == 0 && addr != HADDR_UNDEF && addr <= file_bytes && size <= file_bytes - addr,
             "checkpoint {}: dataset '{}' has a damaged chunk index (corrupt?)", path.string(), name);
  }
}

}  // namespace

void save_tensor_file(const std::filesystem::path& path, const TensorFile& file) {
  QuietHdf5 quiet;
  create_parent_folders(path);
  const std::filesystem::path tmp = unique_temp_path(path);
  try {
    // The 1.8+ file format checksums its own metadata (superblock, object headers).
    Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_libver_bounds(access.id, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    // No modification times in object headers: equal tensors give equal bytes,
    // so a file's checksum says whether two runs agree.
    Handle create(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_obj_track_times(create.id, false);
    Handle f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, create.id, access.id), H5Fclose);
    QS_CHECK(f.id >= 0, "checkpoint {}: cannot create file {}", path.string(), tmp.string());
    write_tensors(f.id, path, tmp, file);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  sync_path(tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    fail("checkpoint: cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
  }
}

TensorFile load_tensor_file(const std::filesystem::path& path) {
  QuietHdf5 quiet;
  QS_CHECK(std::filesystem::exists(path), "checkpoint {}: no such file", path.string());
  QS_CHECK(H5Fis_hdf5(path.c_str()) > 0, "checkpoint {}: not an HDF5 file (corrupt or truncated?)",
           path.string());
  // STRONG: closing the file closes whatever a failed read left open in it.
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fclose_degree(access.id, H5F_CLOSE_STRONG);
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, access.id), H5Fclose);
  QS_CHECK(f.id >= 0, "checkpoint {}: cannot open (corrupt or truncated?)", path.string());
  const uint64_t file_bytes = std::filesystem::file_size(path);
  TensorFile out;
  H5O_info_t info;  // HDF5 1.10 API (Debian 12)
  QS_CHECK(H5Oget_info2(f.id, &info, H5O_INFO_NUM_ATTRS) >= 0, "checkpoint {}: unreadable root", path.string());
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    Handle attr(H5Aopen_by_idx(f.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    char name[256];
    H5Aget_name(attr.id, sizeof(name), name);
    out.attributes[name] = read_string_attribute(attr.id);
  }
  H5G_info_t group;
  QS_CHECK(H5Gget_info(f.id, &group) >= 0, "checkpoint {}: unreadable root group", path.string());
  for (hsize_t i = 0; i < group.nlinks; ++i) {
    char name_buf[1024];
    H5Lget_name_by_idx(f.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, name_buf, sizeof(name_buf), H5P_DEFAULT);
    const std::string name = name_buf;
    Handle ds(H5Dopen2(f.id, name.c_str(), H5P_DEFAULT), H5Dclose);
    QS_CHECK(ds.id >= 0, "checkpoint {}: '{}' is not a dataset", path.string(), name);
    Handle attr(H5Aopen(ds.id, "dtype", H5P_DEFAULT), H5Aclose);
    QS_CHECK(attr.id >= 0, "checkpoint {}: dataset '{}' has no dtype attribute", path.string(), name);
    const std::string dt = read_string_attribute(attr.id);
    DType dtype = DType::f32;
    bool known = false;
    for (DType d : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8, DType::bf16, DType::f16}) {
      if (dtype_name(d) == dt) {
        dtype = d;
        known = true;
      }
    }
    QS_CHECK(known, "checkpoint {}: dataset '{}' has unknown dtype '{}'", path.string(), name, dt);
    Handle space(H5Dget_space(ds.id), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.id);
    QS_CHECK(rank >= 0, "checkpoint {}: dataset '{}' has an unreadable shape", path.string(), name);
    std::vector<hsize_t> dims(rank);
    H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
    // The header is untrusted: a shape whose bytes cannot fit in the file is
    // refused before anything is allocated (the data are stored uncompressed).
    uint64_t bytes = dtype_size(dtype);
    for (hsize_t d : dims) {
      QS_CHECK(d == 0 || bytes <= file_bytes / d, "checkpoint {}: dataset '{}' claims a shape larger than the file (corrupt?)",
               path.string(), name);
      bytes *= d;
    }
    // The stored element type must be the dtype's (a corrupt type could make
    // HDF5 allocate a conversion buffer of any size), the stored bytes must
    // fit in the file, and chunks must lie inside the shape.
    Handle stored(H5Dget_type(ds.id), H5Tclose);
    const H5T_class_t want = dtype == DType::f32 || dtype == DType::f64 ? H5T_FLOAT : H5T_INTEGER;
    QS_CHECK(stored.id >= 0 && H5Tget_class(stored.id) == want && H5Tget_size(stored.id) == dtype_size(dtype),
             "checkpoint {}: dataset '{}' is stored with a type that is not {} (corrupt?)", path.string(), name, dt);
    QS_CHECK(H5Dget_storage_size(ds.id) <= file_bytes, "checkpoint {}: dataset '{}' claims more bytes than the file holds (corrupt?)",
             path.string(), name);
    Handle create(H5Dget_create_plist(ds.id), H5Pclose);
    if (create.id >= 0 && H5Pget_layout(create.id) == H5D_CHUNKED) {
      std::vector<hsize_t> chunk(static_cast<std::size_t>(rank));
      QS_CHECK(H5Pget_chunk(create.id, rank, chunk.data()) == rank, "checkpoint {}: dataset '{}' has unreadable chunks",
               path.string(), name);
      hsize_t expected_chunks = 1, chunk_bytes = dtype_size(dtype);
      for (int d = 0; d < rank; ++d) {
        QS_CHECK(chunk[d] > 0 && chunk[d] <= std::max<hsize_t>(dims[d], 1), "checkpoint {}: dataset '{}' has chunks larger than its shape (corrupt?)",
                 path.string(), name);
        expected_chunks *= (dims[d] + chunk[d] - 1) / chunk[d];
        chunk_bytes *= chunk[d];
      }
      check_chunk_index(ds.id, space.id, path, name, expected_chunks, chunk_bytes + (H5Pget_nfilters(create.id) > 0 ? 4 : 0), file_bytes);
    }
    Tensor t(Shape(dims.begin(), dims.end()), dtype);
    if (t.numel() > 0) {
      QS_CHECK(H5Dread(ds.id, native_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw_data()) >= 0,
               "checkpoint {}: cannot read dataset '{}' (corrupt?)", path.string(), name);
    }
    out.tensors[name] = t;
  }
  return out;
}

}  // namespace qs::engine

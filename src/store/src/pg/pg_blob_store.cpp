#include <sodium.h>

#include <cstring>

#include "atdesk/store/pg_store.hpp"
#include "pq.hpp"

namespace atdesk::store {
namespace {

using pg::Params;

std::string where(const JobId& job, BlobKind kind) {
  return "the documents table (job " + job.str() + ", " + std::string(to_string(kind)) + ")";
}

}  // namespace

Result<std::unique_ptr<PgBlobStore>> PgBlobStore::open(std::shared_ptr<PgConnections> pool,
                                                       const std::filesystem::path& key_file) {
  auto key = load_or_create_key(key_file);
  if (!key) return fail(key.error());
  auto store = std::make_unique<PgBlobStore>(std::move(pool), *key);
  sodium_memzero(key->data(), key->size());
  // As the spool: a sealed check row says which key the documents are sealed with, so a node
  // started with another key file is refused now rather than when it prints.
  static constexpr std::string_view kCheck = "atdesk spool key check";
  const JobId check_id = *JobId::parse(std::string(JobId::kLength, '0'));
  auto exists = store->exists(check_id, BlobKind::original);
  if (!exists) return fail(exists.error());
  if (*exists) {
    auto check = store->get(check_id, BlobKind::original);
    if (!check && check.error().code != Errc::corrupt) return fail(check.error());
    if (!check || check->size() != kCheck.size() ||
        std::memcmp(check->data(), kCheck.data(), kCheck.size()) != 0) {
      return fail(Errc::corrupt,
                  key_file.string() +
                      ": this key does not open the documents in the PostgreSQL store (its key "
                      "check does not decrypt): every node needs the key file of the node that "
                      "first used the database");
    }
  } else {
    const auto* bytes = reinterpret_cast<const std::byte*>(kCheck.data());
    if (auto ok = store->put(check_id, BlobKind::original, {bytes, kCheck.size()}); !ok) {
      return fail(ok.error());
    }
  }
  return store;
}

PgBlobStore::PgBlobStore(std::shared_ptr<PgConnections> pool, const SecretKey& key)
    : pool_(std::move(pool)), key_(key) {}

PgBlobStore::~PgBlobStore() {
  sodium_memzero(key_.data(), key_.size());
}

Result<void> PgBlobStore::put(const JobId& job, BlobKind kind, std::span<const std::byte> data) {
  const auto sealed = seal(key_, job, kind, data);
  return put_sealed(job, kind, sealed);
}

Result<void> PgBlobStore::put_sealed(const JobId& job, BlobKind kind,
                                     std::span<const unsigned char> sealed) {
  auto lease = pool_->acquire();
  if (!lease) return fail(lease.error());
  auto& c = **lease;
  auto run = [&]() -> Result<void> {
    if (auto ok = c.exec("BEGIN"); !ok) return fail(ok.error());
    Params del;
    del.text(job.str()).text(to_string(kind));
    if (auto ok = c.run(
            {"delete_document", "DELETE FROM documents WHERE job_id = $1 AND kind = $2"}, del);
        !ok) {
      return fail(ok.error());
    }
    int seq = 0;
    for (std::size_t offset = 0; offset < sealed.size(); offset += kChunkBytes, ++seq) {
      Params p;
      p.text(job.str())
          .text(to_string(kind))
          .integer(seq)
          .bytes(sealed.subspan(offset, std::min(kChunkBytes, sealed.size() - offset)));
      if (auto ok = c.run({"put_document_chunk",
                           "INSERT INTO documents (job_id, kind, seq, data) VALUES ($1, $2, $3, "
                           "$4::bytea)"},
                          p);
          !ok) {
        return fail(ok.error());
      }
    }
    if (auto ok = c.exec("COMMIT"); !ok) return fail(ok.error());
    return {};
  };
  auto ok = run();
  if (!ok && !c.broken()) (void)c.exec("ROLLBACK");  // the error above is what is reported
  return ok;
}

Result<Bytes> PgBlobStore::get(const JobId& job, BlobKind kind) {
  for (int attempt = 0;; ++attempt) {
    auto lease = pool_->acquire();
    if (!lease) return fail(lease.error());
    Params p;
    p.text(job.str()).text(to_string(kind));
    auto r = (*lease)->run({"get_document",
                            "SELECT data FROM documents WHERE job_id = $1 AND kind = $2 ORDER "
                            "BY seq"},
                           p, true);
    if (!r) {
      if ((*lease)->broken() && attempt == 0) continue;  // a read: once more on a new connection
      return fail(r.error());
    }
    if (r->empty()) {
      return fail(Errc::not_found, "the " + std::string(to_string(kind)) + " document of job " +
                                       job.str() + " is not in the database");
    }
    std::vector<unsigned char> sealed;
    for (int i = 0; i < r->size(); ++i) {
      const auto chunk = r->bytes(i, 0);
      sealed.insert(sealed.end(), chunk.begin(), chunk.end());
    }
    return unseal(key_, job, kind, sealed, where(job, kind));
  }
}

Result<bool> PgBlobStore::exists(const JobId& job, BlobKind kind) {
  for (int attempt = 0;; ++attempt) {
    auto lease = pool_->acquire();
    if (!lease) return fail(lease.error());
    Params p;
    p.text(job.str()).text(to_string(kind));
    auto r = (*lease)->run(
        {"document_exists", "SELECT 1 FROM documents WHERE job_id = $1 AND kind = $2 LIMIT 1"}, p);
    if (!r) {
      if ((*lease)->broken() && attempt == 0) continue;
      return fail(r.error());
    }
    return !r->empty();
  }
}

Result<void> PgBlobStore::remove(const JobId& job) {
  auto lease = pool_->acquire();
  if (!lease) return fail(lease.error());
  Params p;
  p.text(job.str());
  auto r = (*lease)->run({"remove_documents", "DELETE FROM documents WHERE job_id = $1"}, p);
  if (!r) return fail(r.error());
  return {};
}

}  // namespace atdesk::store

// SPDX-License-Identifier: MIT
// ovlcore/detail/name_table.hpp: an insert-once map from names to values whose lookups take no
// lock and allocate nothing: the child table of an overlay node (the kernel's dcache hash, spec
// §5.3: a name is looked up once per directory and then answered from the cache).
// Internal: used by overlay.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ovlcore::detail {

/// Transparent string hash, so string-keyed unordered containers accept std::string_view keys.
struct string_hash {
    using is_transparent = void;
    [[nodiscard]] std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

/// A map from names to values where an entry, once inserted, is never changed or removed.
///
/// find() takes no lock: it reads an open-addressing table of atomic pointers to immutable items
/// (acquire loads pairing with the writer's release stores). Writers serialize on a mutex; a full
/// table is replaced by one twice its size and kept alive until the map dies, since readers may
/// still be probing it (the tables retired this way hold no more slots than the live one).
/// Values have stable addresses for the map's lifetime.
template <class Value>
class name_table {
public:
    name_table() = default;
    name_table(const name_table&) = delete;
    name_table& operator=(const name_table&) = delete;

    /// The value stored under `name`, or nullptr. Safe to call concurrently with insert().
    [[nodiscard]] const Value* find(std::string_view name) const noexcept {
        const table* t = m_table.load(std::memory_order_acquire);
        return t ? find_in(*t, name, string_hash{}(name)) : nullptr;
    }

    /// Stores `value` under `name` unless the name is already there; returns the stored value
    /// (the first one inserted wins a race).
    const Value& insert(std::string_view name, Value value) {
        const std::lock_guard lock(m_write);
        const std::size_t hash = string_hash{}(name);
        table* current = m_tables.empty() ? nullptr : m_tables.back().get();
        if (current) {
            if (const Value* found = find_in(*current, name, hash)) return *found;
        }
        if (!current || (m_items.size() + 1) * 2 > current->slots.size()) current = grow();
        m_items.push_back(std::make_unique<const item>(
            item{.name = std::string(name), .hash = hash, .value = std::move(value)}));
        place(*current, m_items.back().get());
        return m_items.back()->value;
    }

private:
    struct item {
        std::string name;
        std::size_t hash;
        Value value;
    };
    struct table {
        explicit table(std::size_t size) : slots(size) {}
        std::vector<std::atomic<const item*>> slots; ///< size is a power of two, at most half full
    };

    [[nodiscard]] static const Value* find_in(const table& t, std::string_view name,
                                              std::size_t hash) noexcept {
        const std::size_t mask = t.slots.size() - 1;
        for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
            const item* it = t.slots[i].load(std::memory_order_acquire);
            if (!it) return nullptr;
            if (it->hash == hash && it->name == name) return &it->value;
        }
    }

    static void place(table& t, const item* it) noexcept {
        const std::size_t mask = t.slots.size() - 1;
        std::size_t i = it->hash & mask;
        while (t.slots[i].load(std::memory_order_relaxed)) i = (i + 1) & mask;
        t.slots[i].store(it, std::memory_order_release);
    }

    /// A table twice the size holding every item, published for readers (writer lock held).
    table* grow() {
        const std::size_t size = m_tables.empty() ? 8 : m_tables.back()->slots.size() * 2;
        auto bigger = std::make_unique<table>(size);
        for (const auto& it : m_items) place(*bigger, it.get());
        m_tables.push_back(std::move(bigger));
        m_table.store(m_tables.back().get(), std::memory_order_release);
        return m_tables.back().get();
    }

    std::atomic<const table*> m_table{nullptr};
    std::mutex m_write;
    std::vector<std::unique_ptr<table>> m_tables;     ///< every table ever published, live one last
    std::vector<std::unique_ptr<const item>> m_items; ///< insertion order
};

} // namespace ovlcore::detail

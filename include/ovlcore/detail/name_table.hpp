// SPDX-License-Identifier: MIT
// ovlcore/detail/name_table.hpp: a map from names to values whose lookups take no lock and
// allocate nothing while nothing is erased, and take a shared lock once erasing is possible: the
// child table of an overlay node (the kernel's dcache hash, spec §5.3: a name is looked up once
// per directory and then answered from the cache until its dentry is released, §10 Q2).
// Internal: used by overlay.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
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

/// A map from names to values. An entry, once inserted, is never changed; it may be erased.
///
/// find() takes no lock: it reads an open-addressing table of atomic pointers to immutable items
/// (acquire loads pairing with the writer's release stores). It is safe only as long as nothing
/// is erased: a full table is replaced by one twice its size and kept alive until the map dies,
/// since such readers may still be probing it. Once a caller erases entries it must read with
/// find_locked(), which holds the map's shared lock while it looks at the value (erase_if() and
/// insert() hold it exclusively). Values have stable addresses until erased.
template <class Value>
class name_table {
public:
    name_table() = default;
    name_table(const name_table&) = delete;
    name_table& operator=(const name_table&) = delete;
    ~name_table() {
        if (const table* t = m_table.load(std::memory_order_relaxed))
            for (const auto& slot : t->slots) destroy(slot.load(std::memory_order_relaxed));
    }

    /// The value stored under `name`, or nullptr. Safe concurrently with insert(), not erase_if().
    [[nodiscard]] const Value* find(std::string_view name) const noexcept {
        const table* t = m_table.load(std::memory_order_acquire);
        const item* it = t ? find_in(*t, name, string_hash{}(name)) : nullptr;
        return it ? &it->value : nullptr;
    }

    /// Calls `use(value)` with the shared lock held when `name` is stored and returns true; safe
    /// concurrently with insert() and erase_if().
    template <class Use>
    bool find_locked(std::string_view name, Use&& use) const {
        const std::shared_lock lock(m_lock);
        const table* t = m_table.load(std::memory_order_relaxed);
        const item* it = t ? find_in(*t, name, string_hash{}(name)) : nullptr;
        if (it) std::forward<Use>(use)(it->value);
        return it != nullptr;
    }

    /// Stores `value` under `name` unless the name is already there, then calls `use(stored,
    /// key)` with the lock held, `key` the stored copy of the name, followed by a NUL (valid
    /// while the entry is);
    /// the first one inserted wins a race. Returns the stored value.
    template <class Use>
    const Value& insert(std::string_view name, Value value, Use&& use) {
        const std::unique_lock lock(m_lock);
        const std::size_t hash = string_hash{}(name);
        table* current = m_table.load(std::memory_order_relaxed);
        if (current) {
            if (const item* found = find_in(*current, name, hash)) {
                std::forward<Use>(use)(found->value, found->name());
                return found->value;
            }
        }
        if (!current || (m_live + m_erased + 1) * 2 > current->slots.size()) current = rebuild();
        const item* it = make_item(name, hash, std::move(value));
        place(*current, it);
        ++m_live;
        std::forward<Use>(use)(it->value, it->name());
        return it->value;
    }

    const Value& insert(std::string_view name, Value value) {
        return insert(name, std::move(value), [](const Value&, std::string_view) {});
    }

    /// Erases the entry under `name` if `pred(value)` holds (called with the lock held
    /// exclusively); returns whether it did. After the first call, readers must use find_locked().
    template <class Pred>
    bool erase_if(std::string_view name, Pred&& pred) {
        const std::unique_lock lock(m_lock);
        m_erasing = true;
        table* t = m_table.load(std::memory_order_relaxed);
        if (!t) return false;
        const std::size_t hash = string_hash{}(name), mask = t->slots.size() - 1;
        for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
            const item* it = t->slots[i].load(std::memory_order_relaxed);
            if (!it) return false;
            if (it == tombstone() || it->hash != hash || it->name() != name) continue;
            if (!std::forward<Pred>(pred)(it->value)) return false;
            t->slots[i].store(tombstone(), std::memory_order_relaxed);
            --m_live;
            ++m_erased;
            destroy(it);
            if (t->slots.size() > 8 && m_live * 8 < t->slots.size()) (void)rebuild(); // shrinks
            return true;
        }
    }

    /// Hands every value to `take` (as an rvalue) and empties the map. Not concurrent with anything.
    template <class Take>
    void clear(Take&& take) {
        const std::unique_lock lock(m_lock);
        table* t = m_table.load(std::memory_order_relaxed);
        if (!t) return;
        for (auto& slot : t->slots) {
            const item* it = slot.load(std::memory_order_relaxed);
            if (!it || it == tombstone()) continue;
            take(std::move(const_cast<item*>(it)->value));
            destroy(it);
            slot.store(tombstone(), std::memory_order_relaxed);
        }
        m_erased += m_live;
        m_live = 0;
    }

    /// Entries stored.
    [[nodiscard]] std::size_t size() const {
        const std::shared_lock lock(m_lock);
        return m_live;
    }

private:
    struct item {
        std::size_t hash;
        Value value;
        std::uint32_t length; ///< the name's bytes follow the item, then a NUL
        [[nodiscard]] std::string_view name() const noexcept {
            return {reinterpret_cast<const char*>(this + 1), length};
        }
    };
    struct table {
        explicit table(std::size_t size) : slots(size) {}
        std::vector<std::atomic<const item*>> slots; ///< size is a power of two, at most half full
    };

    /// The marker of an erased slot (probing continues past it).
    [[nodiscard]] static const item* tombstone() noexcept {
        static const char marker = 0;
        return reinterpret_cast<const item*>(&marker);
    }

    [[nodiscard]] static const item* make_item(std::string_view name, std::size_t hash,
                                               Value value) {
        void* memory = ::operator new(sizeof(item) + name.size() + 1);
        auto* it = new (memory) item{.hash = hash,
                                     .value = std::move(value),
                                     .length = static_cast<std::uint32_t>(name.size())};
        auto* chars = reinterpret_cast<char*>(it + 1);
        if (!name.empty()) std::memcpy(chars, name.data(), name.size());
        chars[name.size()] = '\0';
        return it;
    }

    static void destroy(const item* it) noexcept {
        if (!it || it == tombstone()) return;
        it->~item();
        ::operator delete(const_cast<item*>(it));
    }

    [[nodiscard]] static const item* find_in(const table& t, std::string_view name,
                                             std::size_t hash) noexcept {
        const std::size_t mask = t.slots.size() - 1;
        for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
            const item* it = t.slots[i].load(std::memory_order_acquire);
            if (!it) return nullptr;
            if (it != tombstone() && it->hash == hash && it->name() == name) return it;
        }
    }

    static void place(table& t, const item* it) noexcept {
        const std::size_t mask = t.slots.size() - 1;
        std::size_t i = it->hash & mask;
        while (t.slots[i].load(std::memory_order_relaxed)) i = (i + 1) & mask;
        t.slots[i].store(it, std::memory_order_release);
    }

    /// A table holding every live item and room for one more at most half full (so twice the
    /// size when the current one is full, the same size when erased slots filled it), published
    /// for readers (writer lock held). Lock-free readers may still probe the old table, so it is
    /// kept until the map dies unless entries are erased (then readers lock).
    table* rebuild() {
        const table* old = m_table.load(std::memory_order_relaxed);
        std::size_t size = 8;
        while ((m_live + 1) * 2 > size) size *= 2;
        auto fresh = std::make_unique<table>(size);
        if (old)
            for (const auto& slot : old->slots)
                if (const item* it = slot.load(std::memory_order_relaxed); it && it != tombstone())
                    place(*fresh, it);
        m_erased = 0;
        if (m_erasing) m_tables.clear();
        m_tables.push_back(std::move(fresh));
        m_table.store(m_tables.back().get(), std::memory_order_release);
        return m_tables.back().get();
    }

    std::atomic<table*> m_table{nullptr};
    mutable std::shared_mutex m_lock;
    std::vector<std::unique_ptr<table>> m_tables; ///< tables readers may still probe, live one last
    std::size_t m_live = 0;
    std::size_t m_erased = 0; ///< tombstones in the live table
    bool m_erasing = false;   ///< erase_if() has been called: readers lock, old tables are freed
};

} // namespace ovlcore::detail

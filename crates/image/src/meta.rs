//! Keys and typed access for the image metadata in berth-store:
//! `image/images/<hex>` image records, `image/refs/<repo:tag>` the image id a
//! tag points at, `image/containers/<id>` container rootfs records.
//! One store transaction changes a tag and its image together, across
//! processes too (the CLI works daemonless on the same store).

use berth_store::{get_json, put_json, Txn};

use crate::error::{ImageError, Result};
use crate::model::{ContainerRecord, ImageRecord};

pub const IMAGES: &str = "image/images/";
pub const REFS: &str = "image/refs/";
pub const CONTAINERS: &str = "image/containers/";

fn hex_of(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

pub fn get_image(txn: &mut dyn Txn, id: &str) -> Result<Option<ImageRecord>> {
    Ok(get_json(txn, &format!("{IMAGES}{}", hex_of(id)))?)
}

pub fn put_image(txn: &mut dyn Txn, rec: &ImageRecord) -> Result<()> {
    Ok(put_json(txn, &format!("{IMAGES}{}", hex_of(&rec.id)), rec)?)
}

pub fn delete_image(txn: &mut dyn Txn, id: &str) -> Result<()> {
    txn.delete(&format!("{IMAGES}{}", hex_of(id)))?;
    Ok(())
}

pub fn images(txn: &mut dyn Txn) -> Result<Vec<ImageRecord>> {
    txn.list_prefix(IMAGES)?
        .into_iter()
        .map(|(k, v)| {
            serde_json::from_slice(&v).map_err(|e| ImageError::corrupt(format!("metadata {k}"), e))
        })
        .collect()
}

/// Every `(full ref, image id)`.
pub fn refs(txn: &mut dyn Txn) -> Result<Vec<(String, String)>> {
    Ok(txn
        .list_prefix(REFS)?
        .into_iter()
        .map(|(k, v)| {
            (
                k[REFS.len()..].to_string(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect())
}

pub fn get_ref(txn: &mut dyn Txn, full: &str) -> Result<Option<String>> {
    Ok(txn
        .get(&format!("{REFS}{full}"))?
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

pub fn put_ref(txn: &mut dyn Txn, full: &str, id: &str) -> Result<()> {
    Ok(txn.put(&format!("{REFS}{full}"), id.as_bytes())?)
}

pub fn delete_ref(txn: &mut dyn Txn, full: &str) -> Result<bool> {
    Ok(txn.delete(&format!("{REFS}{full}"))?)
}

pub fn get_container(txn: &mut dyn Txn, id: &str) -> Result<Option<ContainerRecord>> {
    Ok(get_json(txn, &format!("{CONTAINERS}{id}"))?)
}

pub fn put_container(txn: &mut dyn Txn, id: &str, rec: &ContainerRecord) -> Result<()> {
    Ok(put_json(txn, &format!("{CONTAINERS}{id}"), rec)?)
}

pub fn delete_container(txn: &mut dyn Txn, id: &str) -> Result<()> {
    txn.delete(&format!("{CONTAINERS}{id}"))?;
    Ok(())
}

pub fn containers(txn: &mut dyn Txn) -> Result<Vec<(String, ContainerRecord)>> {
    txn.list_prefix(CONTAINERS)?
        .into_iter()
        .map(|(k, v)| {
            let rec = serde_json::from_slice(&v)
                .map_err(|e| ImageError::corrupt(format!("metadata {k}"), e))?;
            Ok((k[CONTAINERS.len()..].to_string(), rec))
        })
        .collect()
}
